import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notStaticRootExecutable } from '../src';

/** What may start contid's root lines of a unit: a static, root-only executable (no loader reads the unit's LD_PRELOAD). */
describe('notStaticRootExecutable', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-static-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("Debian's busybox-static passes; a dynamically linked sh, a script, a missing file do not, each with its reason", () => {
    expect(notStaticRootExecutable('/bin/busybox')).toBeNull();
    expect(notStaticRootExecutable('/bin/sh')).toBe('/bin/sh is dynamically linked');
    writeFileSync(join(dir, 'script'), '#!/bin/sh\n', { mode: 0o755 });
    expect(notStaticRootExecutable(join(dir, 'script'))).toBe(`${join(dir, 'script')} is not an ELF executable`);
    expect(notStaticRootExecutable(join(dir, 'none'))).toBe(`${join(dir, 'none')}: ENOENT`);
  });

  test('a static copy others may write is refused (it would run as root); run as root, as the suites are', () => {
    const copy = join(dir, 'busybox');
    copyFileSync('/bin/busybox', copy);
    chmodSync(copy, 0o755);
    expect(notStaticRootExecutable(copy)).toBeNull();
    chmodSync(copy, 0o777);
    expect(notStaticRootExecutable(copy)).toBe(`${copy} is not owned by root and writable by root only`);
  });
});
