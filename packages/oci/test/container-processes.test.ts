import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { containerProcesses, sessionLeader } from '../src/consumer';

// A made-up /proc and cgroup tree: where an exec's process is looked for without walking all of /proc.
const ID = 'c0ffee'.repeat(10) + 'abcd';
let root = '';
const put = (path: string, text: string): void => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};
/** A process: its cgroup file, session and parent. */
const proc = (pid: number, cgroup: string, session: number, ppid: number): void => {
  put(`proc/${pid}/cgroup`, cgroup);
  put(`proc/${pid}/sessionid`, String(session));
  put(`proc/${pid}/status`, `Name:\tx\nPPid:\t${ppid}\n`);
};

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'contid-cgroup-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('containerProcesses: a container\'s processes from its init\'s cgroup', () => {
  test('unified hierarchy: the highest cgroup naming the id, with its descendants (an init that moved into a child)', () => {
    put('proc/self/mounts', `cgroup2 ${root}/cg cgroup2 rw,nosuid 0 0\n`);
    proc(10, `0::/system.slice/docker-${ID}.scope/init.scope\n`, 5, 1);
    put(`cg/system.slice/docker-${ID}.scope/cgroup.procs`, '20\n');
    put(`cg/system.slice/docker-${ID}.scope/init.scope/cgroup.procs`, '10\n11\n');
    put('cg/system.slice/cgroup.procs', '99\n');
    expect(containerProcesses(10, ID, join(root, 'proc'))!.sort()).toEqual([10, 11, 20]);
  });

  test('a v1 hierarchy (this machine\'s hybrid layout), found through the mount of its controller', () => {
    put('proc/self/mounts', `cgroup ${root}/cg/cpu cgroup rw,relatime,cpu 0 0\ncgroup ${root}/cg/pids cgroup rw,relatime,pids 0 0\ncgroup2 ${root}/cg/unified cgroup2 rw 0 0\n`);
    proc(10, `8:pids:/docker/${ID}\n1:cpu:/\n0::/\n`, 5, 1);
    put(`cg/pids/docker/${ID}/cgroup.procs`, '10\n30\n');
    expect(containerProcesses(10, ID, join(root, 'proc'))).toEqual([10, 30]);
  });

  test('null (look at every process) when no mounted hierarchy names the id, or the init is gone', () => {
    put('proc/self/mounts', `cgroup2 ${root}/cg cgroup2 rw 0 0\n`);
    proc(10, '0::/user.slice\n', 5, 1);
    expect(containerProcesses(10, ID, join(root, 'proc'))).toBeNull();
    expect(containerProcesses(11, ID, join(root, 'proc'))).toBeNull();
    proc(12, `0::/docker/${ID}\n`, 5, 1); // named, but its directory cannot be read
    expect(containerProcesses(12, ID, join(root, 'proc'))).toBeNull();
  });

  test('sessionLeader among the candidates equals the walk over all of /proc', () => {
    proc(10, '', 5, 1); // the container's init
    proc(40, '', 9, 3); // the exec's process (its parent, the shim, is in no session of it)
    proc(41, '', 9, 40); // its child
    proc(77, '', 9, 1); // runc itself, in the same session, excluded
    expect(sessionLeader(9, 77, join(root, 'proc'))).toBe(40);
    expect(sessionLeader(9, 77, join(root, 'proc'), [10, 41, 40])).toBe(40);
    expect(sessionLeader(9, 77, join(root, 'proc'), [10])).toBeNull();
  });
});
