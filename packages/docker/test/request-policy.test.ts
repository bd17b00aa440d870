import fs from 'node:fs';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { HOST_CONFIG_RULES, PolicyContext, bindRefusal, containerCreateRefusal, execCreateRefusal, hostConfigRefusal, isHostRoot, routeOf, startBodyRefusal, volumeCreateName, volumeCreateRefusal, volumeOptionsRefusal, networkCreateRefusal, networkAttachBody, networkAttachContainer } from '@contid/docker';

const MALLORY = 1001;

/** A host tree for bind sources: path → [owner, mode, kind]. */
const TREE: Record<string, [number, number, 'dir' | 'file' | 'link' | 'socket']> = {
  '/': [0, 0o755, 'dir'],
  '/home': [0, 0o755, 'dir'],
  '/home/mallory': [MALLORY, 0o750, 'dir'],
  '/home/mallory/src': [MALLORY, 0o755, 'dir'],
  '/home/alice': [1002, 0o750, 'dir'],
  '/home/link': [0, 0o777, 'link'],
  '/tmp': [0, 0o1777, 'dir'],
  '/tmp/root-made': [0, 0o755, 'dir'],
  '/tmp/root-made/mallory': [MALLORY, 0o755, 'dir'],
  '/tmp/mallory': [MALLORY, 0o755, 'dir'],
  '/var': [0, 0o755, 'dir'],
  '/var/local': [0, 0o2775, 'dir'],
  '/var/local/mallory': [MALLORY, 0o755, 'dir'],
  '/run': [0, 0o755, 'dir'],
  '/run/docker.sock': [0, 0o660, 'socket'],
  '/etc': [0, 0o755, 'dir'],
  '/etc/mallory.conf': [MALLORY, 0o644, 'file'],
};
function lstat(path: string): Stats {
  const e = TREE[path];
  if (!e) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  const [uid, mode, kind] = e;
  return { uid, mode, isDirectory: () => kind === 'dir', isFile: () => kind === 'file', isSymbolicLink: () => kind === 'link' } as Stats;
}
const mandatory = { defaultRuntime: 'contid', contid: new Set(['contid']) };
const ctx: PolicyContext = { uid: MALLORY, runtimes: mandatory, lstat };

// Every HostConfig field of dockerd 20.10 (API 1.41) with a value it allows for a user other than
// root and one it refuses (null: no value is refused). A field added to the table needs a row here.
const FIELDS: Record<string, [unknown, unknown]> = {
  Binds: [['/home/mallory:/m:ro', 'vol:/v', '/anon', '/anon:ro'], ['/home/mallory:/m']],
  ContainerIDFile: ['', null],
  LogConfig: [{ Type: 'json-file', Config: {} }, { Type: 'syslog', Config: { 'syslog-address': 'unix:///run/contid/contid.sock' } }],
  NetworkMode: ['my-net', 'host'],
  PortBindings: [{ '80/tcp': [{ HostPort: '8080' }] }, null],
  RestartPolicy: [{ Name: 'always' }, null],
  AutoRemove: [true, null],
  VolumeDriver: ['local', 'sshfs'],
  VolumesFrom: [[], ['alice-web']],
  ConsoleSize: [[24, 80], null],
  CapAdd: [['CHOWN', 'cap_kill', 'AUDIT_WRITE'], ['SYS_PTRACE']],
  CapDrop: [['ALL'], null],
  CgroupnsMode: ['private', 'host'],
  Dns: [['1.1.1.1'], null],
  DnsOptions: [['ndots:2'], null],
  DnsSearch: [['example.org'], null],
  ExtraHosts: [['h:10.0.0.1'], null],
  GroupAdd: [['audio'], null],
  IpcMode: ['shareable', 'container:alice-web'],
  Cgroup: ['', 'container:alice-web'],
  Links: [['db:db'], null],
  OomScoreAdj: [500, null],
  PidMode: ['', 'host'],
  Privileged: [false, true],
  PublishAllPorts: [true, null],
  ReadonlyRootfs: [true, null],
  SecurityOpt: [['no-new-privileges', 'no-new-privileges=false', 'label=level:s0:c1', 'apparmor=docker-default', 'seccomp=builtin'], ['systempaths=unconfined']],
  StorageOpt: [{ size: '10G' }, { dm: 'x' }],
  Tmpfs: [{ '/run': 'rw,size=1m' }, null],
  UTSMode: ['', 'host'],
  UsernsMode: ['', 'host'],
  ShmSize: [67108864, null],
  Sysctls: [{ 'net.ipv4.ip_forward': '1' }, null],
  Runtime: ['contid', 'runc'],
  Isolation: ['default', 'hyperv'],
  CpuShares: [512, null],
  Memory: [1 << 30, null],
  NanoCpus: [1e9, null],
  CgroupParent: ['', 'system.slice'],
  BlkioWeight: [100, null],
  BlkioWeightDevice: [[], null],
  BlkioDeviceReadBps: [[{ Path: '/dev/sda', Rate: 1 }], null],
  BlkioDeviceWriteBps: [[], null],
  BlkioDeviceReadIOps: [[], null],
  BlkioDeviceWriteIOps: [[], null],
  CpuPeriod: [100000, null],
  CpuQuota: [50000, null],
  CpuRealtimePeriod: [0, null],
  CpuRealtimeRuntime: [0, null],
  CpusetCpus: ['0', null],
  CpusetMems: ['0', null],
  Devices: [[], [{ PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'rwm' }]],
  DeviceCgroupRules: [[], ['b *:* rwm']],
  DeviceRequests: [null, [{ Driver: 'nvidia', Count: -1 }]],
  KernelMemory: [0, null],
  KernelMemoryTCP: [0, null],
  MemoryReservation: [0, null],
  MemorySwap: [-1, null],
  MemorySwappiness: [null, null],
  OomKillDisable: [false, null],
  PidsLimit: [100, null],
  Ulimits: [[{ Name: 'nofile', Soft: 1024, Hard: 1024 }], null],
  CpuCount: [0, null],
  CpuPercent: [0, null],
  IOMaximumIOps: [0, null],
  IOMaximumBandwidth: [0, null],
  Mounts: [[{ Type: 'bind', Source: '/home/mallory', Target: '/m', ReadOnly: true }, { Type: 'volume', Source: 'v', Target: '/v' }, { Type: 'tmpfs', Target: '/t' }], [{ Type: 'bind', Source: '/run/docker.sock', Target: '/s', ReadOnly: true }]],
  MaskedPaths: [null, []],
  ReadonlyPaths: [null, []],
  Init: [true, null],
};

describe('the HostConfig allow-list for users other than root', () => {
  test('every field of the table has a row here, and no more', () => {
    expect(Object.keys(FIELDS).sort()).toEqual(Object.keys(HOST_CONFIG_RULES).sort());
  });

  test.each(Object.entries(FIELDS))('%s', (field, [ok, bad]) => {
    expect(hostConfigRefusal({ [field]: ok }, ctx)).toBeNull();
    if (bad !== null) expect(hostConfigRefusal({ [field]: bad }, ctx)).toMatchObject({ what: expect.any(String), why: expect.any(String) });
  });

  test('a field it does not know is allowed only empty', () => {
    expect(hostConfigRefusal({ Annotations: null, Future: [] }, ctx)).toBeNull();
    expect(hostConfigRefusal({ Annotations: { a: 'b' } }, ctx)?.why).toMatch(/does not know/);
  });

  test('the kinds root can allow: privileged, CAP_AUDIT_CONTROL/ALL (audit-control), another runtime (runtime)', () => {
    expect(hostConfigRefusal({ Privileged: true }, ctx)?.allow).toBe('audit-control');
    expect(hostConfigRefusal({ CapAdd: ['CAP_AUDIT_CONTROL'] }, ctx)?.allow).toBe('audit-control');
    expect(hostConfigRefusal({ CapAdd: ['all'] }, ctx)?.allow).toBe('audit-control');
    expect(hostConfigRefusal({ Runtime: 'runc' }, ctx)?.allow).toBe('runtime');
    expect(hostConfigRefusal({ Runtime: 'runc' }, { ...ctx, runtimes: { defaultRuntime: 'runc', contid: new Set(['contid']) } })).toBeNull();
    expect(hostConfigRefusal({ CapAdd: ['SYS_ADMIN'] }, ctx)?.allow).toBeUndefined();
  });

  test("keys are matched as Go's JSON decoder matches them: any case, ſ for s, every duplicate judged", () => {
    expect(hostConfigRefusal({ privileged: true }, ctx)).not.toBeNull();
    expect(hostConfigRefusal({ PIDMODE: 'host' }, ctx)).not.toBeNull();
    expect(hostConfigRefusal({ '\u017fecurityOpt': ['seccomp=unconfined'] }, ctx)).not.toBeNull();
    expect(hostConfigRefusal(JSON.parse('{"privileged":true,"Privileged":false}'), ctx)).not.toBeNull();
  });

  test('never throws on any JSON', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => void hostConfigRefusal(v, ctx)));
    fc.assert(fc.property(fc.json(), (s) => void containerCreateRefusal(Buffer.from(s), ctx)));
  });

  test('a refusal of a kind root allowed (--allow-unattributed) hides no other: runc with a writable bind of / is refused for the bind', () => {
    const body = Buffer.from(JSON.stringify({ Image: 'x', HostConfig: { Runtime: 'runc', Binds: ['/:/host'] } }));
    expect(containerCreateRefusal(body, ctx)?.allow).toBe('runtime');
    expect(containerCreateRefusal(body, { ...ctx, allowed: new Set(['runtime']) })?.what).toBe('bind mount of "/"');
    const caps = Buffer.from(JSON.stringify({ HostConfig: { CapAdd: ['AUDIT_CONTROL', 'SYS_ADMIN'] } }));
    expect(containerCreateRefusal(caps, { ...ctx, allowed: new Set(['audit-control']) })?.what).toBe('--cap-add "SYS_ADMIN"');
    expect(containerCreateRefusal(Buffer.from(JSON.stringify({ HostConfig: { Runtime: 'runc', Privileged: true } })), { ...ctx, allowed: new Set(['runtime', 'audit-control']) })).toBeNull();
  });
});

describe("container labels: not the keys contid's CRI path writes for pods (outside attack 13, F7)", () => {
  test.each<[Record<string, unknown> | unknown, string | null]>([
    [{ 'io.kubernetes.pod.namespace': 'kube-system' }, 'container label "io.kubernetes.pod.namespace"'],
    [{ 'io.kubernetes.sandbox.id': 'x' }, 'container label "io.kubernetes.sandbox.id"'],
    [{ 'contid.io/container-type': 'sandbox' }, 'container label "contid.io/container-type"'],
    [{ 'CONTID.IO/cri-runtime': 'containerd' }, 'container label "CONTID.IO/cri-runtime"'],
    [{ team: 'web', 'IO.Kubernetes.pod.name': 'coredns' }, 'container label "IO.Kubernetes.pod.name"'],
    [['io.kubernetes.pod.name=x'], 'container labels ["io.kubernetes.pod.name=x"]'],
    [{ 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'db' }, null],
    [{ 'io.kubernetes': 'x', 'contid.io': 'x', 'org.contid.io/x': 'y', 'kubernetes.io/name': 'z' }, null],
    [null, null],
  ])('Labels %j: refused as %j', (labels, what) => {
    const body = Buffer.from(JSON.stringify({ Image: 'x', Labels: labels }));
    expect(containerCreateRefusal(body, ctx)?.what ?? null).toBe(what);
  });

  test('a key matching Labels in another letter case is judged too (Go decodes it into Labels)', () => {
    expect(containerCreateRefusal(Buffer.from('{"Image":"x","labels":{"contid.io/owner":"x"}}'), ctx)?.what).toBe('container label "contid.io/owner"');
  });
});

describe('bind mounts: only her own files, on a path nobody can redirect, read-only', () => {
  test.each([
    ['/home/mallory', true, null],
    ['/tmp/root-made/mallory', true, null], // sticky /tmp, root's entry in it
    ['/etc/mallory.conf', true, null],
    ['/home/mallory', false, /read-only/],
    ['/home/mallory/src', true, /\/home\/mallory is not a directory of root's/],
    ['/tmp/mallory', true, /\/tmp may be written by group or others/],
    ['/var/local/mallory', true, /\/var\/local may be written by group or others/],
    ['/home/alice', true, /owned by uid 1002, not by you/],
    ['/run/docker.sock', true, /only a directory or a regular file/],
    ['/', true, /owned by uid 0/],
    ['/etc', true, /owned by uid 0/],
    ['/home/link', true, /only a directory or a regular file/],
    ['/home/link/x', true, /\/home\/link is not a directory/],
    ['/home/mallory/../mallory', true, /plain absolute path/],
    ['/home//mallory', true, /plain absolute path/],
    ['/home/mallory/', true, /plain absolute path/],
    ['home/mallory', true, /plain absolute path/],
    ['/home/nobody', true, /cannot check it: ENOENT/],
  ] as const)('%s (read-only %s)', (source, readOnly, why) => {
    const r = bindRefusal(source, readOnly, ctx);
    if (why === null) expect(r).toBeNull();
    else expect(r?.why).toMatch(why);
  });

  test.each([
    ['/home/mallory:/m:ro', null],
    ['/home/mallory:/m:ro,rprivate', null],
    ['/home/mallory:/m', /read-only/],
    ['/home/mallory:/m:rw', /read-only/],
    ['/run/docker.sock:/s:ro', /only a directory/],
    ['/anon:ro', null], // an anonymous volume at /anon
    ['named:/v', null],
    ['a:b:c:d', /not a volume spec/],
  ] as const)('-v %s', (spec, why) => {
    const r = hostConfigRefusal({ Binds: [spec] }, ctx);
    if (why === null) expect(r).toBeNull();
    else expect(r?.why).toMatch(why);
  });

  test('--mount: a bind is judged whatever the case of its keys; a volume\'s driver options as volume create\'s', () => {
    expect(hostConfigRefusal({ Mounts: [{ type: 'bind', source: '/run/docker.sock', target: '/s', readonly: true }] }, ctx)).not.toBeNull();
    expect(hostConfigRefusal({ Mounts: [{ Type: 'bind', Source: '/home/mallory', Target: '/m' }] }, ctx)?.why).toMatch(/read-only/);
    expect(hostConfigRefusal({ Mounts: [{ Type: 'BIND', Source: '/', Target: '/m', ReadOnly: true }] }, ctx)).not.toBeNull();
    const vol = (Options: unknown, Name?: string) => ({ Mounts: [{ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { DriverConfig: { Name, Options } } }] });
    expect(hostConfigRefusal(vol({ type: 'none', o: 'bind', device: '/' }), ctx)).not.toBeNull();
    expect(hostConfigRefusal(vol({ type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }), ctx)).toBeNull();
    expect(hostConfigRefusal(vol({}, 'sshfs'), ctx)).not.toBeNull();
  });
});

describe('the other bodies the front judges', () => {
  test('container create: the inner HostConfig and HostConfig fields at the top level (old clients)', () => {
    const body = (o: unknown) => Buffer.from(JSON.stringify(o));
    expect(containerCreateRefusal(body({ Image: 'x', HostConfig: { NetworkMode: 'default' } }), ctx)).toBeNull();
    expect(containerCreateRefusal(Buffer.alloc(0), ctx)).toBeNull();
    expect(containerCreateRefusal(body({ Image: 'x', Privileged: true }), ctx)).not.toBeNull();
    expect(containerCreateRefusal(body({ Image: 'x', hostconfig: { PidMode: 'host' } }), ctx)).not.toBeNull();
    expect(containerCreateRefusal(body({ Image: 'x', Labels: { a: 'b' }, Env: ['A=1'] }), ctx)).toBeNull();
    expect(containerCreateRefusal(Buffer.from('{"Image":'), ctx)?.why).toMatch(/not JSON/);
  });

  test.each([
    ['a bind of / made as a volume by root', { Driver: 'local', Options: { type: 'none', o: 'bind', device: '/' } }, 'volume "v": its volume options {"type":"none","o":"bind","device":"/"}: only a tmpfs may be given as local volume options (type=tmpfs, device tmpfs or none, o of tmpfs\'s own options): type is not tmpfs; bind-mount your own files with a read-only bind mount instead'],
    ["the host's disk", { Driver: 'local', Options: { type: 'ext4', device: '/dev/sda1' } }, 'volume "v"'],
    ['a plugin driver', { Driver: 'rexray', Options: null }, 'volume "v": its volume driver "rexray"'],
    // Outside attack 11, V3: a plain volume of root's (a database's data, a root service's scripts).
    ['a plain local volume nobody made through the front', { Driver: 'local', Options: null, madeBy: null }, 'volume "v": it was not made by you through the front'],
    ['a plain local volume with no maker looked up', { Driver: 'local', Options: null }, 'volume "v": it was not made by you through the front'],
    ["a plain local volume of another user's", { Driver: 'local', Options: null, madeBy: 4242 }, 'volume "v": it was made by uid 4242, not by you (uid 1001)'],
    ['a plain local volume she made', { Driver: 'local', Options: null, madeBy: MALLORY }, null],
    ['a tmpfs she made', { Driver: 'local', Options: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' }, madeBy: MALLORY }, null],
    ["a bind of / in a volume she made (root's options win)", { Driver: 'local', Options: { type: 'none', o: 'bind', device: '/' }, madeBy: MALLORY }, 'volume "v": its volume options'],
    ['none yet (dockerd makes a plain one)', null, null],
    ['no answer from dockerd', undefined, 'volume "v": dockerd could not be asked what it is'],
  ])('a named volume that is %s, by -v and by --mount', (_what, stored, refused) => {
    const volumes = { ...ctx, volume: (name: string) => (name === 'v' ? stored : null) };
    const judged = (host: unknown) => hostConfigRefusal(host, volumes);
    const says = (r: ReturnType<typeof judged>) => (r ? `${r.what}: ${r.why}` : null);
    for (const host of [{ Binds: ['v:/host'] }, { Binds: ['v:/host:ro'] }, { Mounts: [{ Type: 'volume', Source: 'v', Target: '/host' }] }]) {
      if (refused === null) expect(judged(host)).toBeNull();
      else expect(says(judged(host))).toMatch(new RegExp(`^${refused.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
    // Without a look-up (no dockerd to ask), named volumes are not judged.
    expect(hostConfigRefusal({ Binds: ['v:/host'] }, ctx)).toBeNull();
  });

  // Outside attack 11, V2: moby's mount flag table binds for more words than `bind`.
  test.each([
    [{ type: 'tmpfs', o: 'rbind', device: '/' }, /a tmpfs has no device/],
    [{ type: 'tmpfs', o: 'rbind', device: 'tmpfs' }, /o holds "rbind"/],
    [{ type: 'tmpfs', o: 'size=1m,move' }, /o holds "move"/],
    [{ type: 'tmpfs', o: 'remount' }, /o holds "remount"/],
    [{ type: 'tmpfs', o: 'rshared,size=1m' }, /o holds "rshared"/],
    [{ type: 'tmpfs', o: 'size=1m,,bind' }, /o holds ""/],
    [{ type: 'tmpfs', o: 'source=/' }, /o holds "source=\/"/],
    [{ type: 'tmpfs', device: '/' }, /a tmpfs has no device/],
    [{ type: 'tmpfs', device: '/dev/sda1' }, /a tmpfs has no device/],
    [{ type: 'tmpfs', copy: 'x' }, /option "copy" is not one of/],
    [{ type: 'TMPFS' }, /type is not tmpfs/],
    [{ type: 'tmpfs', o: 1 }, /not a string/],
    [{ type: 'tmpfs' }, null],
    [{ type: 'tmpfs', device: '', o: '' }, null],
    [{ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,nr_inodes=1k,mode=1777,uid=1000,gid=1000,huge=never,mpol=bind:0,nosuid,nodev,noexec,ro,noatime' }, null],
  ])('local volume options %j: only a tmpfs with its own options and harmless flags', (opts, why) => {
    const r = volumeOptionsRefusal('local', opts);
    if (why === null) expect(r).toBeNull();
    else expect(r?.why).toMatch(why);
  });

  // Outside attack 11, L0: dockerd dials a log driver's address as root and writes the tag's bytes into it.
  test.each([
    [{ Type: 'syslog', Config: { 'syslog-address': 'unix:///run/contid/contid.sock', tag: 'x\n{}' } }, /only the drivers that write where dockerd decides/],
    [{ Type: 'fluentd', Config: { 'fluentd-address': 'unix:///run/contid/contid.sock' } }, /only the drivers/],
    [{ Type: 'gelf', Config: {} }, /only the drivers/],
    [{ Type: 'splunk' }, /only the drivers/],
    [{ Type: '', Config: { 'syslog-address': 'unix:///x' } }, /option "syslog-address" is not one of the daemon's default driver's/],
    [{ Config: { tag: 'x' } }, /option "tag"/],
    [{ Type: 'journald', Config: { tag: 'sshd' } }, /option "tag" is not one of the journald driver's/],
    [{ Type: 'journald', Config: { labels: 'a' } }, /option "labels"/],
    [{ Type: 'json-file', Config: { 'max-size': 1 } }, /not a string/],
    [{ Type: 'json-file', type: 'syslog' }, /only the drivers/],
    [{ Type: 'json-file', Address: 'x' }, /only Type and Config/],
    ['syslog', /not an object/],
    [{ Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2', compress: 'true', tag: 'x\n{}', labels: 'a', env: 'A', mode: 'non-blocking', 'max-buffer-size': '4m' } }, null],
    [{ type: 'local', config: { 'max-size': '1m' } }, null],
    [{ Type: 'journald', Config: { mode: 'blocking' } }, null],
    [{ Type: 'none', Config: null }, null],
    [{ Type: '', Config: { 'max-size': '1m' } }, null],
    [{ Type: null, Config: {} }, null],
    [null, null],
  ])('HostConfig.LogConfig %j', (logConfig, why) => {
    const r = hostConfigRefusal({ LogConfig: logConfig }, ctx);
    if (why === null) expect(r).toBeNull();
    else {
      expect(r?.what).toMatch(/^HostConfig\.LogConfig /);
      expect(r?.why).toMatch(why);
    }
  });

  test('exec create: Privileged in any case', () => {
    expect(execCreateRefusal(Buffer.from('{"Cmd":["sh"],"Privileged":false}'))).toBeNull();
    expect(execCreateRefusal(Buffer.from('{"Cmd":["sh"],"PRIVILEGED":true}'))?.allow).toBe('audit-control');
    expect(execCreateRefusal(Buffer.from('{"Cmd":["sh"],"privileged":1}'))).not.toBeNull();
  });

  test('start or restart: any body at all', () => {
    expect(startBodyRefusal(Buffer.alloc(0))).toBeNull();
    expect(startBodyRefusal(Buffer.from('{}'))).not.toBeNull();
    expect(startBodyRefusal(Buffer.from('{"Privileged":true}'))).not.toBeNull();
  });

  test('volume create: the local driver with a tmpfs, or no options', () => {
    const v = (o: unknown) => volumeCreateRefusal(Buffer.from(JSON.stringify(o)));
    expect(routeOf('POST', '/v1.41/volumes/create')).toEqual({ kind: 'volume-create' });
    expect(v({ Name: 'x' })).toBeNull();
    expect(v({ Name: 'x', Driver: 'local', DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m,uid=1000' } })).toBeNull();
    expect(v({ Name: 'x', DriverOpts: { type: 'none', o: 'bind', device: '/run/contid/requesters' } })).not.toBeNull();
    expect(v({ Name: 'x', DriverOpts: { type: 'tmpfs', o: 'bind', device: '/' } })).not.toBeNull();
    expect(v({ Name: 'x', DriverOpts: { type: 'ext4', device: '/dev/sda1' } })).not.toBeNull();
    expect(v({ Name: 'x', driveropts: { device: '/dev/sda1' } })).not.toBeNull();
    expect(v({ Name: 'x', Driver: 'vieux/sshfs' })).not.toBeNull();
    expect(v({ Name: 7 })?.why).toBe('not a string');
    expect(volumeCreateName(Buffer.from('{"name":"x"}'))).toBe('x');
    expect(volumeCreateName(Buffer.from('{"Name":""}'))).toBeNull();
    expect(volumeCreateName(Buffer.alloc(0))).toBeNull();
  });
});

describe('host root is uid 0 in the front\'s own pid and user namespaces', () => {
  const proc = mkdtempSync(join(tmpdir(), 'contid-hostroot-'));
  const ns = (pid: string, pidNs: string, userNs: string) => {
    mkdirSync(join(proc, pid, 'ns'), { recursive: true });
    symlinkSync(`pid:[${pidNs}]`, join(proc, pid, 'ns', 'pid'));
    symlinkSync(`user:[${userNs}]`, join(proc, pid, 'ns', 'user'));
  };
  ns('self', '1', '1');
  ns('10', '1', '1');
  ns('20', '2', '1');
  ns('30', '1', '3');
  afterAll(() => rmSync(proc, { recursive: true, force: true }));

  test.each([
    [10, 0, true],
    [10, 1001, false],
    [20, 0, false], // a container's pid namespace
    [30, 0, false], // a container's user namespace
    [40, 0, false], // cannot be read
  ])('pid %d uid %d: %s', (pid, uid, root) => {
    expect(isHostRoot(pid, uid, proc)).toBe(root);
  });

  // The front's own links never change while it runs (host-root.ts): they were read again for
  // every root connection, two readlinks each, two connections per `docker exec`.
  it('the real /proc: its own links read once, each client\'s every time', () => {
    const read = jest.spyOn(fs, 'readlinkSync');
    try {
      const own = () => read.mock.calls.filter(([p]) => String(p).startsWith('/proc/self/ns/')).length;
      const client = () => read.mock.calls.filter(([p]) => String(p).startsWith(`/proc/${process.pid}/ns/`)).length;
      expect(isHostRoot(process.pid, 0)).toBe(true);
      const [ownFirst, clientFirst] = [own(), client()];
      expect(clientFirst).toBe(2);
      expect(isHostRoot(process.pid, 0)).toBe(true);
      expect(isHostRoot(process.pid, 0)).toBe(true);
      expect(own()).toBe(ownFirst);
      expect(ownFirst).toBeLessThanOrEqual(2);
      expect(client()).toBe(3 * clientFirst);
    } finally {
      read.mockRestore();
    }
  });
});

describe('network create (outside attack 12, P1): bridge only, dockerd\'s own pools, bridge options that name no interface', () => {
  const n = (o: unknown) => networkCreateRefusal(Buffer.from(JSON.stringify(o)));
  /** What docker 20.10's `docker network create NAME` sends. */
  const CLI = { Name: 'n', CheckDuplicate: true, Driver: 'bridge', Scope: '', EnableIPv6: false, IPAM: { Driver: 'default', Options: {}, Config: [] }, Internal: false, Attachable: false, Ingress: false, ConfigOnly: false, ConfigFrom: null, Options: {}, Labels: {} };
  test('her plain bridge network, --internal, labels, mtu and icc are allowed', () => {
    expect(n(CLI)).toBeNull();
    expect(n({ Name: 'n' })).toBeNull();
    expect(n({ ...CLI, Internal: true, Labels: { a: 'b' }, Options: { 'com.docker.network.driver.mtu': '1400', 'com.docker.network.bridge.enable_icc': 'false' } })).toBeNull();
    expect(networkCreateRefusal(Buffer.alloc(0))).toBeNull();
  });
  test("what docker-compose 1.29 sends for a project's default network (Attachable true on a bridge) is allowed; Attachable does not make an overlay of her driver", () => {
    const compose = { Name: 'shop_default', Driver: null, Options: null, IPAM: null, CheckDuplicate: true, Internal: false, Labels: { 'com.docker.compose.network': 'default', 'com.docker.compose.project': 'shop', 'com.docker.compose.version': '1.29.2' }, EnableIPv6: false, Attachable: true, Ingress: false, Scope: null };
    expect(n(compose)).toBeNull();
    expect(n({ ...compose, Driver: 'overlay' })?.what).toContain('driver');
  });
  test.each([
    ['a driver name that walks into her directory', { ...CLI, Driver: '../../../home/mallory/p' }, 'driver'],
    ['a plugin name', { ...CLI, Driver: 'weave' }, 'driver'],
    ['macvlan (a host interface as parent)', { ...CLI, Driver: 'macvlan', Options: { parent: 'eth0' } }, 'driver'],
    ['ipvlan', { ...CLI, Driver: 'ipvlan' }, 'driver'],
    ['a driver in another letter case', { ...CLI, Driver: 'Bridge' }, 'driver'],
    ['the driver under a folded key', { Name: 'n', dRIVER: '../x' }, 'driver'],
    ['an IPAM plugin', { ...CLI, IPAM: { Driver: '../../../home/mallory/p' } }, 'network create IPAM.Driver'],
    ['a subnet of hers', { ...CLI, IPAM: { Driver: 'default', Config: [{ Subnet: '10.0.0.0/24' }] } }, 'network create IPAM.Config'],
    ['an existing bridge by name', { ...CLI, Options: { 'com.docker.network.bridge.name': 'docker0' } }, 'network create option'],
    ['the default-bridge flag', { ...CLI, Options: { 'com.docker.network.bridge.default_bridge': 'true' } }, 'network create option'],
    ['a parent option', { ...CLI, Options: { parent: 'eth0' } }, 'network create option'],
    ['ConfigFrom', { ...CLI, ConfigFrom: { Network: 'roots' } }, 'network create ConfigFrom'],
    ['ConfigOnly', { ...CLI, ConfigOnly: true }, 'network create ConfigOnly'],
    ['Ingress', { ...CLI, Ingress: true }, 'network create Ingress'],
    ['a swarm scope', { ...CLI, Scope: 'swarm' }, 'network create Scope'],
    ['a field contid does not know', { ...CLI, Future: 'x' }, 'network create field'],
  ])('%s is refused', (_what, body, what) => {
    expect(n(body)?.what).toContain(what);
  });
  test('a driver repeated under another letter case (Go merges both into one field) is refused', () => {
    expect(networkCreateRefusal(Buffer.from('{"Name":"n","Driver":"bridge","\\u0044rivER":"../x"}'))?.why).toMatch(/repeats the key/);
    expect(networkCreateRefusal(Buffer.from('{"Name":"n","Driver":"bridge","IPAM":{"Driver":"default","driver":"../p"}}'))?.why).toMatch(/repeats the key/);
  });
  test('connect or disconnect names exactly one container', () => {
    expect(networkAttachContainer(Buffer.from('{"Container":"abc","EndpointConfig":{}}'))).toEqual({ container: 'abc' });
    expect(networkAttachContainer(Buffer.from('{"container":"abc"}'))).toEqual({ container: 'abc' });
    expect(networkAttachContainer(Buffer.from('{"Container":"abc","CONTAINER":"root"}'))).toHaveProperty('why');
    expect(networkAttachContainer(Buffer.from('{}'))).toHaveProperty('why');
    expect(networkAttachContainer(Buffer.from('{"Container":1}'))).toHaveProperty('why');
  });
  test('connect or disconnect is relayed naming the full id judged, in the key as it came, the rest kept (outside attack 15, F3)', () => {
    const id = 'c'.repeat(64);
    expect(JSON.parse(networkAttachBody(Buffer.from('{"container":"web","EndpointConfig":{"Aliases":["a"]}}'), id).toString())).toEqual({ container: id, EndpointConfig: { Aliases: ['a'] } });
    expect(JSON.parse(networkAttachBody(Buffer.from('{"Container":"web","Force":true}'), id).toString())).toEqual({ Container: id, Force: true });
  });
});
