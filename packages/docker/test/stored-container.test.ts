import { readFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { type DockerDaemon, type Refusal, asCreated, daemonOfInfo, storedContainerRefusal } from '@contid/docker';

// A stored container, judged for a caller other than root at her start, restart or exec, by the
// rules her create would pass (outside attack 9 F3). Real inspect answers of dockerd 20.10.24 on
// this machine (cgroup v1, default runtime contid's), one per `docker create` flag set.
interface Captured {
  captured: { dockerd: string; cgroupVersion: string };
  containers: Record<string, { flags: string; HostConfig: Record<string, unknown> }>;
}
const FIXTURE: Captured = JSON.parse(readFileSync(join(__dirname, 'fixtures/inspect-hostconfig-dockerd-20.10.24.json'), 'utf8'));
const MALLORY = 1001;

/** The host paths the fixtures bind: /srv/frontfix/hers is hers, under root's 0755 directories. */
const TREE: Record<string, [number, boolean]> = { '/': [0, true], '/srv': [0, true], '/srv/frontfix': [0, true], '/srv/frontfix/hers': [MALLORY, true], '/etc': [0, true] };
function lstat(path: string): Stats {
  const e = TREE[path];
  if (!e) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return { uid: e[0], mode: 0o755, isDirectory: () => e[1], isFile: () => !e[1], isSymbolicLink: () => false } as Stats;
}
const v1: DockerDaemon = { runtimes: { defaultRuntime: 'contid', contid: new Set(['contid']) }, cgroupnsDefault: 'host' };
const v2: DockerDaemon = { ...v1, cgroupnsDefault: 'private' };
const judge = (name: string, daemon = v1, allowed?: Refusal['allow'][]): Refusal | null =>
  storedContainerRefusal(FIXTURE.containers[name]!.HostConfig, daemon, { uid: MALLORY, lstat, allowed: allowed && new Set(allowed.filter((a) => a !== undefined)) });
/** A refusal as the front words it: its `what`, or the `--allow-unattributed` kind. */
const word = (r: Refusal | null): string | null => (r ? (r.allow ? `allow:${r.allow}` : r.what) : null);

// Every captured container and what her start of it is refused for (null: allowed).
const EXPECTED: Record<string, string | null> = {
  plain: null,
  'plain-rm': null,
  everyday: null,
  'network-none': null,
  'hers-ro': null,
  'cgroupns-host': null, // on cgroup v1, dockerd's default: the same container as plain
  'cgroupns-private': null,
  'host-bind-rw': 'bind mount of "/"',
  'hers-rw': 'bind mount of "/srv/frontfix/hers"',
  'mount-rw': 'bind mount of "/srv/frontfix/hers"',
  'root-dir-ro': 'bind mount of "/etc"',
  'pid-host': 'HostConfig.PidMode "host"',
  'cap-sys-admin': '--cap-add "CAP_SYS_ADMIN"',
  'cap-audit-control': 'allow:audit-control',
  privileged: 'allow:audit-control',
  'runtime-runc': 'allow:runtime',
  'systempaths-unconfined': 'HostConfig.MaskedPaths []',
  'seccomp-unconfined': '--security-opt "seccomp=unconfined"',
  device: 'HostConfig.Devices [{"PathOnHost":"/dev/null","PathInContainer":"/dev/null","CgroupPermissions":"rwm"}]',
  'device-cgroup-rule': 'HostConfig.DeviceCgroupRules ["c 1:3 rwm"]',
  'network-host': 'HostConfig.NetworkMode "host"',
  'ipc-host': 'HostConfig.IpcMode "host"',
  'uts-host': 'HostConfig.UTSMode "host"',
  'volumes-from': 'HostConfig.VolumesFrom ["plain"]',
  'pid-container': 'HostConfig.PidMode "container:421a4602a36d1a4edc19bfadce031cb53a861a808541de8509c74078d9b1121b"',
  'cgroup-parent': 'HostConfig.CgroupParent "/evil"',
  'volume-driver-opts': 'volume options {"device":"/","o":"bind","type":"none"}',
};

describe(`a stored container as dockerd ${FIXTURE.captured.dockerd} (cgroup v${FIXTURE.captured.cgroupVersion}) inspects it, judged for mallory`, () => {
  test('every captured container has a row', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(FIXTURE.containers).sort());
  });

  test.each(Object.entries(EXPECTED))('%s: %s', (name, what) => {
    expect(word(judge(name))).toBe(what);
  });

  test('the bind ownership rule takes the caller\'s uid: her directory is not alice\'s', () => {
    const alice = storedContainerRefusal(FIXTURE.containers['hers-ro']!.HostConfig, v1, { uid: 1002, lstat });
    expect(alice?.why).toBe('it is owned by uid 1001, not by you (uid 1002); only your own files may be bind-mounted');
  });

  test("on a cgroup v2 dockerd (default private), a container in the host's cgroup namespace is refused", () => {
    expect(word(judge('cgroupns-host', v2))).toBe('HostConfig.CgroupnsMode "host"');
    expect(word(judge('cgroupns-private', v2))).toBeNull();
  });

  test('a kind root allowed (--allow-unattributed) is passed over, and hides no other refusal', () => {
    expect(word(judge('privileged', v1, ['audit-control']))).toBeNull(); // dockerd's label=disable is its own
    expect(word(judge('runtime-runc', v1, ['runtime']))).toBeNull();
    // Runtime comes after Binds in inspect's order: put first, it is the first refusal.
    const runtimeFirst = { Runtime: 'runc', ...Object.fromEntries(Object.entries(FIXTURE.containers['host-bind-rw']!.HostConfig).filter(([k]) => k !== 'Runtime')) };
    expect(word(storedContainerRefusal(runtimeFirst, v1, { uid: MALLORY, lstat }))).toBe('allow:runtime');
    expect(word(storedContainerRefusal(runtimeFirst, v1, { uid: MALLORY, lstat, allowed: new Set(['runtime']) }))).toBe('bind mount of "/"');
    expect(word(storedContainerRefusal({ CapAdd: ['CAP_AUDIT_CONTROL', 'CAP_SYS_ADMIN'] }, v1, { uid: MALLORY, lstat, allowed: new Set(['audit-control']) }))).toBe('--cap-add "CAP_SYS_ADMIN"');
  });

  test("what dockerd fills in is undone only where it is dockerd's: its masked paths (or more), its default cgroup namespace, its label=disable", () => {
    const plain = FIXTURE.containers.plain!.HostConfig;
    expect(asCreated(plain, 'host')).toMatchObject({ MaskedPaths: null, ReadonlyPaths: null, CgroupnsMode: '' });
    const more = { ...plain, MaskedPaths: [...(plain.MaskedPaths as string[]), '/sys/devices/virtual/powercap'] };
    expect(asCreated(more, 'host')).toMatchObject({ MaskedPaths: null });
    const fewer = { ...plain, MaskedPaths: (plain.MaskedPaths as string[]).filter((p) => p !== '/proc/kcore') };
    expect(word(storedContainerRefusal(fewer, v1, { uid: MALLORY, lstat }))).toMatch(/^HostConfig\.MaskedPaths /);
    // label=disable a client asked for, without the host namespaces dockerd adds it for, stays.
    expect(word(storedContainerRefusal({ ...plain, SecurityOpt: ['label=disable'] }, v1, { uid: MALLORY, lstat }))).toBe('--security-opt "label=disable"');
    expect(asCreated(null, 'host')).toBeNull();
  });

  test("a log driver is judged by the create table (outside attack 11, L0) unless it is the daemon's default, which dockerd writes into every container that named none", () => {
    const plain = FIXTURE.containers.plain!.HostConfig;
    const syslog = { ...plain, LogConfig: { Type: 'syslog', Config: { 'syslog-address': 'unix:///run/contid/contid.sock' } } };
    expect(word(storedContainerRefusal(syslog, v1, { uid: MALLORY, lstat }))).toMatch(/^HostConfig\.LogConfig /);
    expect(word(storedContainerRefusal(syslog, { ...v1, loggingDriver: 'json-file' }, { uid: MALLORY, lstat }))).toMatch(/^HostConfig\.LogConfig /);
    expect(storedContainerRefusal(syslog, { ...v1, loggingDriver: 'syslog' }, { uid: MALLORY, lstat })).toBeNull();
    expect(storedContainerRefusal({ ...plain, LogConfig: { Type: 'json-file', Config: { 'max-size': '10m' } } }, v1, { uid: MALLORY, lstat })).toBeNull();
    expect(daemonOfInfo({ LoggingDriver: 'syslog' }, () => false).loggingDriver).toBe('syslog');
  });
});
