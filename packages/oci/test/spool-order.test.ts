import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, consumerHooks } from '@contid/oci';
import type { Adapter, InitRecorder } from '@contid/oci';

describe('spool order', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-spool-order-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('sessions first; within one session create, fail, init, setns, end (a hook runs in the session contid lxc start renewed)', () => {
    const names = ['12-end-5.entry', '12-init-99999.entry', '12-create-100001.entry', '11-setns-7.entry', '12-setns-3.entry', '12-fail-8.entry', '9-end-1.entry'];
    for (const n of names) writeFileSync(join(dir, n), '');
    expect(new Spool(dir).names()).toEqual(['9-end-1.entry', '11-setns-7.entry', '12-create-100001.entry', '12-fail-8.entry', '12-init-99999.entry', '12-setns-3.entry', '12-end-5.entry']);
  });
});

describe('consumerHooks', () => {
  it('hands each orchestrator its own init recorder, by adapter name', () => {
    const lxc: InitRecorder = () => ({ kind: 'deferred', why: 'lxc' });
    const adapters: Adapter[] = [{ name: 'docker' }, { name: 'lxc', recordInit: lxc }];
    expect(consumerHooks(adapters).initRecorders).toEqual({ lxc });
  });
});
