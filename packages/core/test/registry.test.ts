import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContidError, MIGRATIONS, Registry, composeId, prefixOf, timeFloor, toContainerId } from '@contid/core';

describe('Registry', () => {
  let dir: string;
  let registry: Registry;
  beforeEach(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'contid-reg-')), 'state');
    registry = Registry.open(dir);
  });
  afterEach(() => {
    registry.close();
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it('lives in a root-only directory, in WAL mode, at the latest schema', () => {
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'registry.db')).mode & 0o777).toBe(0o600);
    expect(registry.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(registry.schemaVersion).toBe(MIGRATIONS.length);
    expect(registry.check()).toEqual([]);
  });

  it('reopening runs no migration twice and keeps the data', () => {
    const c = registry.registerContainer({ orchestrator: 'contid', name: 'a' });
    registry.close();
    registry = Registry.open(dir);
    expect(registry.get(c.contid)?.name).toBe('a');
  });

  it('registers a container and its first binding in one transaction', () => {
    const c = registry.registerContainer({ orchestrator: 'docker', name: 'web', runtimeId: 'abcdef123' }, { pid: 10, session: 42, op: 'create', detail: {} });
    expect(registry.bindings(c.contid)).toHaveLength(1);
    expect(registry.containerOfSession(42)?.contid).toBe(c.contid);
    expect(registry.find('web')?.contid).toBe(c.contid);
    expect(registry.find('abcd')?.contid).toBe(c.contid);
    expect(registry.find(c.contid.toString())?.name).toBe('web');
    expect(registry.find('abc')).toBeUndefined(); // runtime-id prefixes need 4 characters
  });

  it('leaves no half row when the binding cannot be written', () => {
    const before = registry.list().length;
    expect(() =>
      registry.registerContainer({ orchestrator: 'docker', name: 'bad' }, { pid: 1, session: 1, op: 'bogus' as 'create', detail: {} }),
    ).toThrow();
    expect(registry.list()).toHaveLength(before);
  });

  it('ends a container once', () => {
    const c = registry.registerContainer({ orchestrator: 'contid', name: 'x' });
    expect(registry.markEnded(c.contid)).toBe(true);
    expect(registry.markEnded(c.contid)).toBe(false);
    expect(registry.get(c.contid)?.state).toBe('ended');
  });

  it('allocates increasing IDs that never fall below the clock floor (no reuse after a wipe)', () => {
    const a = registry.ids.allocate();
    const b = registry.ids.allocate();
    expect(b).toBeGreaterThan(a);
    expect(a).toBeGreaterThanOrEqual(timeFloor() - (1000n << 6n));
    registry.close();
    rmSync(dir, { recursive: true });
    registry = Registry.open(dir); // a wiped registry
    expect(registry.ids.allocate()).toBeGreaterThan(b);
  });

  it('puts the node prefix in the high 16 bits and refuses to change it', () => {
    registry.ids.setNodePrefix(513);
    const id = registry.ids.allocate();
    expect(prefixOf(id)).toBe(513);
    expect(() => registry.ids.setNodePrefix(514)).toThrow(/already has prefix 513/);
    expect(() => registry.ids.setNodePrefix(0xffff)).toThrow(ContidError);
    expect(composeId(0xfffe, (1n << 48n) - 1n)).toBe(toContainerId((0xfffen << 48n) | ((1n << 48n) - 1n)));
  });

  it('says clearly when the directory is unusable', () => {
    const file = join(dir, '..', 'a-file');
    writeFileSync(file, '');
    expect(() => Registry.open(join(file, 'state'))).toThrow(/registry directory .* is not usable: .*ENOTDIR/);
  });
});

describe('Registry across reboots', () => {
  it('ends containers of an earlier boot and forgets their session bindings (sessions restart at 1)', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'contid-boot-')), 'state');
    let registry = Registry.open(dir);
    const c = registry.registerContainer({ orchestrator: 'contid', name: 'old' }, { pid: 5, session: 3, op: 'create', detail: {} });
    // What a reboot leaves behind: the rows of another boot id.
    registry.db.prepare(`UPDATE containers SET boot_id = 'earlier-boot'`).run();
    registry.db.prepare(`UPDATE bindings SET boot_id = 'earlier-boot'`).run();
    registry.close();
    registry = Registry.open(dir);
    expect(registry.get(c.contid)?.state).toBe('ended');
    expect(registry.containerOfSession(3)).toBeUndefined();
    registry.close();
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });
});
