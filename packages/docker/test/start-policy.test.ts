import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import type { ContainerRecord } from '@contid/core';
import type { SpoolEntry } from '@contid/oci';
import { daemonOfInfo, defaultRuntimeHealth, dockerExecDescriber, runtimesOfInfo, storedContainerRefusal } from '@contid/docker';

const mandatory = { defaultRuntime: 'contid', contid: new Set(['contid', 'contid-crun']) };
const optional = { defaultRuntime: 'runc', contid: new Set(['contid']) };

describe('which starts the front refuses for users other than root: the identity rows (stored-container.test.ts has the rest)', () => {
  test.each([
    [{ Runtime: 'contid' }, mandatory, null],
    [{ Runtime: 'contid-crun' }, mandatory, null],
    [{}, mandatory, null], // no runtime recorded: dockerd's default
    [{ Runtime: 'runc' }, mandatory, 'runtime'],
    [{ Runtime: 'io.containerd.runc.v2' }, mandatory, 'runtime'],
    [{ Runtime: 'runc' }, optional, null], // tagging not mandatory: a plain run is untagged anyway
    [{}, optional, null],
    [{ Runtime: 'contid', Privileged: true }, mandatory, 'audit-control'],
    [{ Runtime: 'contid', Privileged: true }, optional, 'audit-control'],
    [{ Runtime: 'contid', CapAdd: ['AUDIT_CONTROL'] }, mandatory, 'audit-control'],
    [{ Runtime: 'contid', CapAdd: ['cap_audit_control'] }, mandatory, 'audit-control'],
    [{ Runtime: 'contid', CapAdd: ['NET_BIND_SERVICE', 'all'] }, mandatory, 'audit-control'],
    [{ Runtime: 'contid', CapAdd: ['NET_BIND_SERVICE', 'AUDIT_WRITE'] }, mandatory, null],
    [{ Runtime: 'contid', CapAdd: null }, mandatory, null],
  ] as const)('%j with %j: %s', (host, runtimes, kind) => {
    expect(storedContainerRefusal(host, { runtimes, cgroupnsDefault: 'host' }, { uid: 1001 })?.allow ?? null).toBe(kind);
  });

  test("contid's runtimes are those whose path is contid's shim", () => {
    const info = { DefaultRuntime: 'contid', Runtimes: { runc: { path: 'runc' }, contid: { path: '/usr/local/libexec/contid/contid-runc' }, odd: {} } };
    const r = runtimesOfInfo(info, (p) => p.endsWith('/contid-runc'));
    expect(r).toEqual({ defaultRuntime: 'contid', contid: new Set(['contid']) });
    expect(runtimesOfInfo({}, () => true)).toEqual({ defaultRuntime: 'runc', contid: new Set() });
  });

  test("dockerd's default cgroup namespace is its cgroup version's (host on v1, private on v2)", () => {
    expect(daemonOfInfo({ CgroupVersion: '1' }, () => false).cgroupnsDefault).toBe('host');
    expect(daemonOfInfo({ CgroupVersion: '2' }, () => false).cgroupnsDefault).toBe('private');
    expect(daemonOfInfo({}, () => false).cgroupnsDefault).toBe('host');
  });
});

describe('an exec a client asked for is never a healthcheck probe', () => {
  const ID = 'c'.repeat(64);
  const EXEC = 'e'.repeat(64);
  const docker = { getContainer: () => ({ inspect: async () => ({ Config: { Healthcheck: { Test: ['CMD-SHELL', 'true'] } } }) }) } as unknown as Dockerode;
  const entry = (requester: SpoolEntry['requester']) => ({ id: ID, pidFile: `/run/x/${EXEC}.pid`, requester }) as SpoolEntry;
  const proc = { args: ['/bin/sh', '-c', 'true'] } as Parameters<ReturnType<typeof dockerExecDescriber>>[3];
  const describe = (requester: SpoolEntry['requester']) => dockerExecDescriber(docker)(entry(requester), {} as ContainerRecord, 1, proc, { registry: {} as never });
  const mallory = { uid: 1001, auid: 1001, session: 5, pid: 6, exe: '/usr/bin/docker' };

  test.each([
    ['no requester (dockerd, no front)', null, true],
    ["the container's requester taken for dockerd", { ...mallory, byDockerd: true as const }, true],
    ["a client's own exec note", mallory, false],
  ])('%s: healthcheck %s', async (_what, requester, probe) => {
    const d = await describe(requester);
    expect(d.execId).toBe(EXEC);
    expect('healthcheck' in d).toBe(probe);
  });
});

describe("contid doctor behind the front: dockerd's default runtime", () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-default-runtime-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  test.each([
    ['{"default-runtime": "contid", "runtimes": {}}', 'ok'],
    ['{"default-runtime": "runc"}', 'warn'],
    ['{}', 'warn'],
    [null, 'warn'],
  ])('%s: %s', (text, status) => {
    const file = join(dir, `${Math.random()}.json`);
    if (text !== null) writeFileSync(file, text);
    const r = defaultRuntimeHealth(file);
    expect(r.status).toBe(status);
    if (status === 'warn') expect(r.detail).toContain('does not refuse other runtimes');
  });
});
