import type { LogRecord } from './log-record';

/** The records of one kernel or user event, in arrival order. */
export interface LogEvent {
  time: string;
  serial: number;
  node: string | null;
  records: LogRecord[];
}

/**
 * Types that end a syscall event. The kernel sends EOE on the netlink socket; auditd does
 * not write EOE to its log, where PROCTITLE is the last record of an event.
 */
const ENDS_EVENT = new Set(['EOE', 'PROCTITLE']);

/**
 * The kernel records that belong to a syscall event (SYSCALL and its auxiliaries, 1300–1399
 * and the few outside that range): these wait for their end; every other type is an event
 * of its own.
 */
const MULTI = new Set([
  'SYSCALL', 'PATH', 'IPC', 'SOCKETCALL', 'CONFIG_CHANGE', 'SOCKADDR', 'CWD', 'EXECVE', 'IPC_SET_PERM',
  'MQ_OPEN', 'MQ_SENDRECV', 'MQ_NOTIFY', 'MQ_GETSETATTR', 'KERNEL_OTHER', 'FD_PAIR', 'OBJ_PID', 'TTY',
  'EOE', 'BPRM_FCAPS', 'CAPSET', 'MMAP', 'NETFILTER_PKT', 'NETFILTER_CFG', 'SECCOMP', 'PROCTITLE',
  'FEATURE_CHANGE', 'REPLACE', 'KERN_MODULE', 'FANOTIFY', 'TIME_INJOFFSET', 'TIME_ADJNTPVAL', 'BPF',
  'EVENT_LISTENER', 'URINGOP', 'OPENAT2', 'DM_CTRL', 'DM_EVENT', 'AVC', 'SELINUX_ERR', 'MAC_STATUS',
  'ANOM_ABEND', 'ANOM_PROMISCUOUS', 'ANOM_LINK', 'ANOM_CREAT', 'INTEGRITY_RULE', 'CONTAINER_OP', 'CONTAINER_ID',
]);

/**
 * Groups records into events by audit(TIME:SERIAL) even when events interleave. Interim:
 * replaced by the search package's Reassembler (issue #8) once it is exported.
 */
export class EventAssembler {
  private readonly open = new Map<string, { event: LogEvent; since: number }>();
  /** Keys just completed, so a late EOE does not open a ghost event. */
  private readonly recent = new Set<string>();

  constructor(private readonly timeoutMs = 2000, private readonly clock: () => number = Date.now) {}

  push(rec: LogRecord): LogEvent[] {
    const key = `${rec.node ?? ''}|${rec.time}:${rec.serial}`;
    const done: LogEvent[] = [];
    if (!MULTI.has(rec.type) && !this.open.has(key)) {
      done.push({ time: rec.time, serial: rec.serial, node: rec.node, records: [rec] });
      return done;
    }
    if (rec.type === 'EOE' && this.recent.has(key)) return done;
    let entry = this.open.get(key);
    if (!entry) {
      entry = { event: { time: rec.time, serial: rec.serial, node: rec.node, records: [] }, since: this.clock() };
      this.open.set(key, entry);
    }
    if (rec.type !== 'EOE') entry.event.records.push(rec);
    if (ENDS_EVENT.has(rec.type)) {
      this.open.delete(key);
      this.remember(key);
      if (entry.event.records.length > 0) done.push(entry.event);
    }
    return done;
  }

  /** Events still open after the timeout: complete them as they are. */
  expire(now = this.clock()): LogEvent[] {
    const done: LogEvent[] = [];
    for (const [key, entry] of this.open) {
      if (now - entry.since < this.timeoutMs) continue;
      this.open.delete(key);
      this.remember(key);
      if (entry.event.records.length > 0) done.push(entry.event);
    }
    return done;
  }

  flush(): LogEvent[] {
    const done = [...this.open.values()].map((e) => e.event).filter((e) => e.records.length > 0);
    this.open.clear();
    return done;
  }

  private remember(key: string): void {
    this.recent.add(key);
    if (this.recent.size > 4096) this.recent.delete(this.recent.values().next().value as string);
  }
}
