import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * Puts every thread of a process (default: this one) at `niceness` or lower priority, never
 * higher. The spool consumers bind what the shim handed over after the container has started:
 * none of their work is on a lifecycle's path, but on a small host their CPU competes with the
 * runtime, the engine and the shim that are. Linux niceness is per thread, and a thread inherits
 * its creator's, so all present threads are set and later ones follow the main thread.
 * Lag stays bounded: CFS gives a nice-10 thread about a tenth of a nice-0 thread's share, never
 * none (unlike SCHED_IDLE), and entries wait durably in the spool, so nothing is lost.
 * Returns how many threads it set; a thread that exits meanwhile is skipped.
 */
export function lowerCpuPriority(niceness: number, pid: number = process.pid): number {
  let set = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(task);
    try {
      if (getPriority(tid) < niceness) setPriority(tid, niceness);
      set++;
    } catch {
      // ESRCH: the thread ended between the listing and the call.
    }
  }
  return set;
}
