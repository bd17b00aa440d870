import { loadKoffi } from './native-modules';
import { ContidError } from './errors';

interface Libc {
  execvp: (file: string, argv: (string | null)[]) => number;
  signal: (sig: number, handler: null) => unknown;
  fcntl: (fd: number, cmd: number, argType: 'int', arg: number) => number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (!libc) {
    const lib = loadKoffi().load('libc.so.6');
    libc = {
      execvp: lib.func('int execvp(const char *file, const char **argv)'),
      signal: lib.func('void *signal(int sig, void *handler)'),
      fcntl: lib.func('int fcntl(int fd, int cmd, ...)'),
    };
  }
  return libc;
}

const SIGPIPE = 13;
const SIGXFSZ = 25;
const F_SETFD = 2;

/**
 * Replaces this Node process with `argv` (execvp): the command keeps our pid, our audit
 * session and our stdio, and its exit status and signals are its own — no Node parent left.
 * Node marks stdio close-on-exec and ignores SIGPIPE and SIGXFSZ at start-up; both would
 * survive into the command, so undo them first.
 * Returns only by throwing.
 */
export function replaceProcess(argv: readonly string[]): never {
  if (argv.length === 0) throw new ContidError('no command to run');
  const c = loadLibc();
  for (const fd of [0, 1, 2]) c.fcntl(fd, F_SETFD, 'int', 0);
  c.signal(SIGPIPE, null);
  c.signal(SIGXFSZ, null);
  c.execvp(argv[0], [...argv, null]);
  const errno = loadKoffi().errno();
  const reason = errno === 2 ? 'command not found' : errno === 13 ? 'permission denied' : `errno ${errno}`;
  throw new ContidError(`cannot run ${argv[0]}: ${reason}`, errno === 2 ? 127 : 126);
}
