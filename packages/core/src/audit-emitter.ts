import type { IKoffiLib } from 'koffi';
import { loadKoffi } from './native-modules';
import { ContidError } from './errors';

/** Where audit records go. The kernel (through libaudit) in production. */
export interface AuditSink {
  /** Sends one user record; throws AuditUnavailableError when the kernel refuses it. */
  send(type: number, message: string, success: boolean): void;
  close(): void;
}

export class AuditUnavailableError extends ContidError {
  override name = 'AuditUnavailableError';
}

interface Libaudit {
  open: () => number;
  logUserMessage: (fd: number, type: number, msg: string, host: null, addr: null, tty: null, result: number) => number;
  close: (fd: number) => void;
}

let libaudit: Libaudit | undefined;

/** Loads libaudit.so.1 once per process (koffi: prebuilt, no compiler needed at install). */
function loadLibaudit(): Libaudit {
  if (libaudit) return libaudit;
  let lib: IKoffiLib;
  try {
    lib = loadKoffi().load('libaudit.so.1');
  } catch {
    throw new AuditUnavailableError('libaudit.so.1 not found: install the libaudit1 package');
  }
  libaudit = {
    open: lib.func('int audit_open(void)'),
    logUserMessage: lib.func(
      'int audit_log_user_message(int fd, int type, const char *msg, const char *host, const char *addr, const char *tty, int result)',
    ),
    close: lib.func('void audit_close(int fd)'),
  };
  return libaudit;
}

/**
 * Writes user records on the kernel audit netlink socket (needs CAP_AUDIT_WRITE, and the
 * initial network namespace). libaudit appends exe=, hostname=, addr=, terminal=, res=.
 */
export class KernelAuditSink implements AuditSink {
  private fd: number;
  private readonly lib: Libaudit;

  constructor() {
    this.lib = loadLibaudit();
    this.fd = this.lib.open();
    if (this.fd < 0) throw new AuditUnavailableError('cannot open the kernel audit socket (is CONFIG_AUDIT on?)');
  }

  send(type: number, message: string, success: boolean): void {
    if (this.fd < 0) throw new AuditUnavailableError('audit socket is closed');
    const rc = this.lib.logUserMessage(this.fd, type, message, null, null, null, success ? 1 : 0);
    if (rc <= 0) {
      throw new AuditUnavailableError(
        'the kernel refused the audit record (needs CAP_AUDIT_WRITE in the initial network namespace, and audit enabled)',
      );
    }
  }

  close(): void {
    if (this.fd >= 0) this.lib.close(this.fd);
    this.fd = -1;
  }
}
