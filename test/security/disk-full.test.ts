import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForAudit, field } from '../helpers/audit';
import { run, uniqueName } from '../helpers/cli';
import { ServiceProcess, registrySnapshot, tagSelf } from './harness';

/**
 * The registry directory on a real 1 MB tmpfs, filled to the last byte: the service answers
 * one clear error, writes an op=fail record, keeps serving, honours the client's fail policy,
 * and leaves no half-written row.
 */
describe('contid serve: disk full on the registry directory (real tmpfs, real kernel)', () => {
  const mountPoint = mkdtempSync(join(tmpdir(), 'contid-sec-full-'));
  let service: ServiceProcess;

  beforeAll(async () => {
    expect(run('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'contid-sec-full', mountPoint]).status).toBe(0);
    mkdirSync(join(mountPoint, 'state'), { mode: 0o700 });
    service = new ServiceProcess('full', join(mountPoint, 'state'));
    await service.start();
  });
  afterAll(async () => {
    await service.stop();
    service.cleanup();
    run('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  const fill = (): void => {
    // dd stops at ENOSPC; the exit status is non-zero by design.
    run('dd', ['if=/dev/zero', `of=${join(mountPoint, 'filler')}`, 'bs=4k']);
    expect(run('df', ['--output=avail', mountPoint]).stdout).toMatch(/\n\s*0\s*$/);
  };

  it('tags normally while there is room', () => {
    expect(tagSelf(service.socket, 'roomy', { env: service.env }).reply).toMatchObject({ ok: true });
  });

  it('fail-closed: one clear error, the client refuses to run, nothing half written, an op=fail record', async () => {
    const before = registrySnapshot(service.stateDir);
    fill();
    const name = uniqueName('full-closed');
    const r = tagSelf(service.socket, name, { env: { ...service.env, CONTID_FAIL_POLICY: 'closed' } });
    expect(r.status).not.toBe(0);
    expect(r.reply.ok).toBe(false);
    expect(String(r.reply.error)).toMatch(/^contid service: .*(database or disk is full|ENOSPC|SQLITE_FULL)/);
    expect(String(r.reply.error)).not.toContain('\n');
    expect(service.alive()).toBe(true);
    const after = registrySnapshot(service.stateDir);
    expect(after).toEqual(before);
    expect(after.integrity).toBe('ok');
    const records = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 0);
    expect(records).toHaveLength(1);
    expect(field(records[0], 'op')).toBe('fail');
    expect(records[0]).toMatch(/res=failed/);
  });

  it('fail-open: the client runs untracked and says why; the registry is still unchanged', () => {
    const before = registrySnapshot(service.stateDir);
    const r = tagSelf(service.socket, uniqueName('full-open'), { env: { ...service.env, CONTID_FAIL_POLICY: 'open' } });
    expect(r.status).toBe(0);
    expect(r.reply).toMatchObject({ ok: true, contid: null, ranUntracked: true });
    expect(String(r.reply.failure)).toMatch(/database or disk is full|ENOSPC|SQLITE_FULL/);
    expect(registrySnapshot(service.stateDir)).toEqual(before);
  });

  it('recovers as soon as there is room again, without a restart', () => {
    rmSync(join(mountPoint, 'filler'));
    const r = tagSelf(service.socket, 'roomy-again', { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    const snap = registrySnapshot(service.stateDir);
    expect(snap.containers.map((c) => c.name)).toEqual(['roomy', 'roomy-again']);
    expect(snap.bindings).toHaveLength(2);
    expect(snap.integrity).toBe('ok');
  });
});
