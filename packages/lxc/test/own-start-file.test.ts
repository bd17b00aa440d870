import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownStartMonitorFile, removeStaleMonitorFile, removeStaleMonitorFiles } from '../src/own-start-file';

describe("contid lxc start's monitor files (STATE_DIR/lxc/.monitor-SESSION), removed once their monitor is gone", () => {
  let root: string;
  let proc: string;
  let state: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'contid-monfile-'));
    proc = join(root, 'proc');
    state = join(root, 'state');
    mkdirSync(join(state, 'lxc'), { recursive: true });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** A fake /proc/PID: its state letter and session. */
  const process = (pid: number, state: string, session: number): void => {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'stat'), `${pid} (lxc-start) ${state} 1 ${pid} ${pid} 0 -1`);
    writeFileSync(join(proc, String(pid), 'sessionid'), String(session));
  };
  const monitorFile = (session: number, text: string): string => {
    writeFileSync(ownStartMonitorFile(state, session), text);
    return ownStartMonitorFile(state, session);
  };

  it('keeps the file of a monitor that runs in its session; removes it when the pid is gone, a zombie, another session\'s or no pid', () => {
    process(100, 'S', 7);
    process(101, 'Z', 8);
    process(102, 'S', 99);
    const live = monitorFile(7, '100');
    const zombie = monitorFile(8, '101');
    const reused = monitorFile(9, '102');
    const gone = monitorFile(10, '103');
    const garbage = monitorFile(11, 'x');
    expect(removeStaleMonitorFile(state, 7, proc)).toBe(false);
    expect(existsSync(live)).toBe(true);
    for (const [session, file] of [[8, zombie], [9, reused], [10, gone], [11, garbage]] as const) {
      expect(removeStaleMonitorFile(state, session, proc)).toBe(true);
      expect(existsSync(file)).toBe(false);
    }
    // No file: nothing to do.
    expect(removeStaleMonitorFile(state, 12, proc)).toBe(false);
  });

  it('a sweep removes every stale .monitor-SESSION file and nothing else in the directory', () => {
    process(100, 'S', 7);
    monitorFile(7, '100');
    monitorFile(8, '555');
    monitorFile(9, '556\n');
    writeFileSync(join(state, 'lxc', 'web'), '1 2 3 4\n'); // an instance record
    writeFileSync(join(state, 'lxc', '.monitor-x'), '555'); // not a session's name
    expect(removeStaleMonitorFiles(state, proc)).toBe(2);
    expect(existsSync(ownStartMonitorFile(state, 7))).toBe(true);
    expect(existsSync(join(state, 'lxc', 'web'))).toBe(true);
    expect(existsSync(join(state, 'lxc', '.monitor-x'))).toBe(true);
    expect(removeStaleMonitorFiles(join(root, 'nowhere'), proc)).toBe(0);
  });
});
