import type { AuditRecord } from './record';

/** The records of one kernel or user event, in arrival order. */
export interface AuditEvent {
  node: string | null;
  time: string;
  timeMs: number;
  serial: number;
  records: AuditRecord[];
}

/**
 * Types that end an event. The kernel sends EOE on the netlink socket; auditd does not write
 * EOE to its log, where PROCTITLE is the last record of a syscall event.
 */
const ENDS_EVENT = new Set(['EOE', 'PROCTITLE']);

/**
 * Kernel types that belong to a multi-record (syscall) event and wait for its end; every
 * other type is an event of its own unless records of its key are already open.
 */
const MULTI_RECORD = new Set([
  'SYSCALL', 'PATH', 'IPC', 'SOCKETCALL', 'CONFIG_CHANGE', 'SOCKADDR', 'CWD', 'EXECVE', 'IPC_SET_PERM',
  'MQ_OPEN', 'MQ_SENDRECV', 'MQ_NOTIFY', 'MQ_GETSETATTR', 'KERNEL_OTHER', 'FD_PAIR', 'OBJ_PID', 'TTY',
  'EOE', 'BPRM_FCAPS', 'CAPSET', 'MMAP', 'NETFILTER_PKT', 'NETFILTER_CFG', 'SECCOMP', 'PROCTITLE',
  'FEATURE_CHANGE', 'REPLACE', 'KERN_MODULE', 'FANOTIFY', 'TIME_INJOFFSET', 'TIME_ADJNTPVAL', 'BPF',
  'URINGOP', 'OPENAT2', 'DM_CTRL', 'DM_EVENT', 'AVC', 'SELINUX_ERR', 'AVC_PATH', 'MAC_STATUS',
  'ANOM_ABEND', 'ANOM_PROMISCUOUS', 'ANOM_LINK', 'ANOM_CREAT', 'INTEGRITY_RULE', 'CONTAINER_OP', 'CONTAINER_ID',
  'LOGIN', 'UNKNOWN[1336]', 'UNKNOWN[1020]',
]);

export interface ReassemblerOptions {
  /**
   * An open event completes once a record this much newer (audit time) arrives, or, with
   * `clock`, this much wall-clock time after it opened. Default 2000 ms; raise it for logs
   * where late records arrive long after (audit-userspace#148).
   */
  timeoutMs?: number;
  /** Wall clock for live streams; log readers leave it unset and go by record time. */
  clock?: () => number;
  /** Bound on open events (memory stays flat on a log with endless unterminated events). */
  maxOpen?: number;
}

interface Open {
  event: AuditEvent;
  since: number;
}

/**
 * Groups records into events by `audit(TIME:SERIAL)` (and node), even when events interleave,
 * like go-libaudit's reassembler. Completed events come out of `push`; `flush` ends the rest.
 * Output order is completion order.
 */
export class Reassembler {
  private readonly open = new Map<string, Open>();
  /** Keys just completed, so a late EOE or straggler does not open a ghost event. */
  private readonly recent = new Set<string>();
  private readonly timeoutMs: number;
  private readonly maxOpen: number;
  private newest = 0;

  constructor(private readonly options: ReassemblerOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.maxOpen = options.maxOpen ?? 10_000;
  }

  push(rec: AuditRecord): AuditEvent[] {
    const key = `${rec.node ?? ''}|${rec.time}:${rec.serial}`;
    const done: AuditEvent[] = [];
    const now = this.options.clock ? this.options.clock() : rec.timeMs;
    if (now > this.newest) this.newest = now;
    let entry = this.open.get(key);
    if (!entry && !MULTI_RECORD.has(rec.type)) {
      if (!(this.recent.has(key) && rec.type === 'EOE')) done.push(single(rec));
    } else if (rec.type === 'EOE' && !entry) {
      // the end marker of an event already completed by PROCTITLE
    } else {
      if (!entry) {
        entry = { event: { node: rec.node, time: rec.time, timeMs: rec.timeMs, serial: rec.serial, records: [] }, since: now };
        this.open.set(key, entry);
      }
      if (rec.type !== 'EOE') entry.event.records.push(rec);
      if (ENDS_EVENT.has(rec.type)) this.complete(key, entry, done);
    }
    this.expire(done);
    return done;
  }

  /** Completes events whose timeout has passed (call periodically on a live stream). */
  tick(): AuditEvent[] {
    if (this.options.clock) this.newest = this.options.clock();
    const done: AuditEvent[] = [];
    this.expire(done);
    return done;
  }

  /** Completes every open event (end of input). */
  flush(): AuditEvent[] {
    const done = [...this.open.values()].map((e) => e.event).filter((e) => e.records.length > 0);
    this.open.clear();
    return done;
  }

  get openCount(): number {
    return this.open.size;
  }

  private expire(done: AuditEvent[]): void {
    // Map iteration is insertion order, so the oldest open events come first.
    for (const [key, entry] of this.open) {
      if (this.newest - entry.since < this.timeoutMs && this.open.size <= this.maxOpen) break;
      this.complete(key, entry, done);
    }
  }

  private complete(key: string, entry: Open, done: AuditEvent[]): void {
    this.open.delete(key);
    this.recent.add(key);
    if (this.recent.size > 4096) this.recent.delete(this.recent.values().next().value as string);
    if (entry.event.records.length > 0) done.push(entry.event);
  }
}

function single(rec: AuditRecord): AuditEvent {
  return { node: rec.node, time: rec.time, timeMs: rec.timeMs, serial: rec.serial, records: [rec] };
}
