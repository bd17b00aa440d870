import { ContidService } from '@contid/service';
import { Tagger } from '@contid/core';
import { join } from 'node:path';
import { contid } from '../helpers/cli';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AS_NOBODY, AS_NOBODY_WITH_AUDIT_WRITE, ServiceProcess, rawRequest, rawRequestAsync, registrySnapshot, tagSelf } from './harness';

/** uid 0 whose bounding set lacks the audit capabilities: what root in a default container holds. */
const ROOT_WITHOUT_AUDIT_CAPS = ['setpriv', '--bounding-set', '-audit_control,-audit_write', '--inh-caps', '-all'];

/**
 * An unprivileged host user (setpriv to uid 65534, with and without CAP_AUDIT_WRITE) against
 * the real service and the real kernel: cannot tag, re-tag, end, or forge a binding.
 */
describe('unprivileged host user vs contid (real service, real kernel)', () => {
  const service = new ServiceProcess('unpriv');
  let victim: string;
  let victimPid: number;
  let victimSession: number;
  let opened: ContidService;
  let openSocket: string;
  let openDir: string;

  beforeAll(async () => {
    await service.start();
    const r = tagSelf(service.socket, 'victim', { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    victim = String(r.reply.contid);
    victimPid = Number(r.reply.pid);
    victimSession = Number(r.reply.session);
    // A second service on the same registry whose socket file modes let anyone connect: what
    // remains is the per-request peer-credential check alone.
    openDir = mkdtempSync(join(tmpdir(), 'contid-sec-open-'));
    chmodSync(openDir, 0o755);
    openSocket = join(openDir, 'run', 'contid.sock');
    opened = new ContidService(Tagger.open({ stateDir: service.stateDir }), { log: () => undefined });
    await opened.listen(openSocket, { kind: 'host' }, { dir: 0o755, socket: 0o666 });
  });
  afterAll(async () => {
    await opened.close();
    await service.stop();
    service.cleanup();
    rmSync(openDir, { recursive: true, force: true });
  });

  const attacks = (): [string, string][] => [
    ['tag itself', JSON.stringify({ v: 1, op: 'create', orchestrator: 'evil', name: 'evil', target: 'peer' })],
    ['claim the victim\'s session (forge a binding)', JSON.stringify({ v: 1, op: 'create', orchestrator: 'evil', name: 'evil', target: { pid: victimPid, session: victimSession } })],
    ['re-tag the victim (setns)', JSON.stringify({ v: 1, op: 'setns', contid: victim, target: 'peer' })],
    ['re-tag the victim as a child of the host', JSON.stringify({ v: 1, op: 'create', orchestrator: 'evil', name: 'victim', parent: null, target: { pid: 1 } })],
    ['end the victim', JSON.stringify({ v: 1, op: 'end', contid: victim, reason: 'pwned' })],
    ['open a nested channel for the victim', JSON.stringify({ v: 1, op: 'channel', contid: victim, path: join(service.root, 'evil') })],
    ['read the registry', JSON.stringify({ v: 1, op: 'show', ref: victim })],
  ];

  it.each([
    ['uid 65534', AS_NOBODY],
    ['uid 65534 with CAP_AUDIT_WRITE', AS_NOBODY_WITH_AUDIT_WRITE],
  ])('%s cannot reach the root-only host channel at all', (_who, prefix) => {
    for (const [, line] of attacks()) {
      const { lines } = rawRequest(service.socket, line + '\n', prefix);
      expect(lines).toEqual([{ connectError: 'EACCES' }]);
    }
  });

  it.each([
    ['uid 65534', AS_NOBODY],
    ['uid 65534 with CAP_AUDIT_WRITE', AS_NOBODY_WITH_AUDIT_WRITE],
    ['uid 0 without the audit capabilities', ROOT_WITHOUT_AUDIT_CAPS],
  ])('%s is denied every operation by its peer credentials even when the socket is world-open', async (_who, prefix) => {
    const before = registrySnapshot(service.stateDir);
    for (const [what, line] of attacks()) {
      const lines = await rawRequestAsync(openSocket, line + '\n', prefix);
      expect([what, lines]).toEqual([what, [expect.objectContaining({ ok: false, code: 'denied' })]]);
      expect(String(lines[0].error)).toMatch(/host channel needs uid 0 with CAP_AUDIT_CONTROL and CAP_AUDIT_WRITE/);
    }
    expect(registrySnapshot(service.stateDir)).toEqual(before);
  });

  it.each([
    ['uid 65534', AS_NOBODY],
    ['uid 65534 with CAP_AUDIT_WRITE', AS_NOBODY_WITH_AUDIT_WRITE],
  ])('%s cannot tag or end directly with the CLI either: one line, non-zero, registry unchanged', (_who, prefix) => {
    const before = registrySnapshot(service.stateDir);
    const env = { ...service.env, CONTID_SOCKET: join(service.root, 'none.sock') };
    const exec = contid(['exec', '--name', 'evil', '--', 'true'], { prefix, env });
    expect(exec.status).toBe(77);
    expect(exec.stderr).toMatch(/^contid: tagging a container needs CAP_AUDIT_CONTROL( and CAP_AUDIT_WRITE)? .*\n$/);
    const end = contid(['end', victim], { prefix, env });
    expect(end.status).not.toBe(0);
    expect(end.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(registrySnapshot(service.stateDir)).toEqual(before);
  });

  it('a legitimate host orchestrator still can, on the same sockets', () => {
    const r = tagSelf(service.socket, 'legit', { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    const ids = registrySnapshot(service.stateDir).containers.map((c) => c.contid);
    expect(ids).toEqual(expect.arrayContaining([victim, String(r.reply.contid)]));
    const state = registrySnapshot(service.stateDir).containers.find((c) => c.contid === victim);
    expect(state).toMatchObject({ state: 'running', name: 'victim' });
  });
});
