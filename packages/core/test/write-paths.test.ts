import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcfsWritePath, SessionWritePath, UntaggableError, chooseWritePath, requireCaps, toContainerId, PrivilegeError } from '@contid/core';

/**
 * This kernel has no /proc/PID/audit_containerid (nor has mainline). These tests build a
 * procfs root with that file's semantics (u64 decimal; "-1" when unset) — emulated.
 */
describe('procfs contid write path (emulated procfs)', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'contid-proc-'));
    for (const pid of ['self', '4242']) {
      mkdirSync(join(root, pid));
      writeFileSync(join(root, pid, 'audit_containerid'), '-1\n');
    }
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('emulated procfs: writes the decimal ID into the target pid', () => {
    const r = new ProcfsWritePath(root).bind(toContainerId(1234567890123n), { pid: 4242 });
    expect(r).toEqual({ pid: 4242, session: null });
    expect(readFileSync(join(root, '4242', 'audit_containerid'), 'utf8')).toBe('1234567890123');
  });

  it('emulated procfs: is chosen automatically for another process when the kernel has the file', () => {
    expect(chooseWritePath('auto', { pid: 4242 }, { procRoot: root }).kind).toBe('procfs');
    expect(chooseWritePath('auto', { pid: 'self' }, { procRoot: root }).kind).toBe('session');
  });

  it('emulated procfs: refuses self and pids without the file', () => {
    const path = new ProcfsWritePath(root);
    expect(() => path.bind(toContainerId(5n), { pid: 'self' })).toThrow(/never the caller/);
    expect(() => path.bind(toContainerId(5n), { pid: 777 })).toThrow(UntaggableError);
  });

  it('uses the session path on this stock kernel', () => {
    expect(ProcfsWritePath.supported()).toBe(false);
    expect(chooseWritePath('auto', { pid: 4242 }).kind).toBe('session');
  });
});

describe('session write path', () => {
  it('refuses to adopt a pid that shares the caller\'s session', () => {
    expect(() => new SessionWritePath().bind(toContainerId(5n), { pid: process.pid })).toThrow(/no audit session of its own/);
  });

  it('adopts a session a wrapper already renewed', () => {
    expect(new SessionWritePath().bind(toContainerId(5n), { pid: 1, session: 77 })).toEqual({ pid: 1, session: 77 });
  });
});

describe('privilege checks', () => {
  it('names every missing capability', () => {
    expect(() => requireCaps([29, 30], 'tagging', 0n)).toThrow(PrivilegeError);
    expect(() => requireCaps([29, 30], 'tagging', 1n << 29n)).toThrow('tagging needs CAP_AUDIT_CONTROL (');
    expect(() => requireCaps([29, 30], 'tagging', (1n << 29n) | (1n << 30n))).not.toThrow();
  });
});
