import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory, openOutputFile, writeFileWhole } from '../src/output-file';

/** The directory helpers every privileged write goes through (no root needed: the caller's own paths). */
describe('makeDirectory / writeFileWhole', () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'contid-outfile-')));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('creates each missing component with the mode asked, and returns the resolved path', () => {
    const dir = join(base, 'a', 'b', 'c');
    expect(makeDirectory(dir, 0o700)).toBe(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(makeDirectory(dir, 0o700)).toBe(dir); // existing: nothing to do
  });

  it('a path under /proc: one error, no endless loop (Node 20 recursive mkdir spins there)', () => {
    expect(() => makeDirectory('/proc/contid-unit-x/y')).toThrow(/^cannot create directory \/proc\/contid-unit-x \(for \/proc\/contid-unit-x\/y\): ENOENT$/);
  });

  it('a file where a directory should be: refused', () => {
    writeFileWhole(join(base, 'plain'), 'x');
    expect(() => makeDirectory(join(base, 'plain', 'sub'))).toThrow(/ENOTDIR/);
  });

  it('a directory everyone may write without the sticky bit in the chain: refused, nothing written or created', () => {
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(() => writeFileWhole(join(open, 'new', 'page.html'), 'x')).toThrow(/open is a directory everyone may write without the sticky bit/);
    expect(readdirSync(open)).toEqual([]);
    chmodSync(open, 0o1777);
    writeFileWhole(join(open, 'new', 'page.html'), 'x');
    expect(readFileSync(join(open, 'new', 'page.html'), 'utf8')).toBe('x');
  });

  it('a directory its group may write without the sticky bit (as /var/local, root:staff 2775): refused, nothing written or created', () => {
    const shared = join(base, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o2775);
    for (const write of [() => writeFileWhole(join(shared, 'page.html'), 'x'), () => makeDirectory(join(shared, 'sub')), () => openOutputFile(join(shared, 'events.log'))]) {
      expect(write).toThrow(/shared is a directory its group may write without the sticky bit \(mode 2775\)$/);
    }
    expect(readdirSync(shared)).toEqual([]);
    chmodSync(shared, 0o1770);
    writeFileWhole(join(shared, 'page.html'), 'x');
    expect(readFileSync(join(shared, 'page.html'), 'utf8')).toBe('x');
  });

  it('through a symlink of the caller: written in the directory it leads to', () => {
    const real = join(base, 'real');
    mkdirSync(real);
    symlinkSync(real, join(base, 'link'));
    writeFileWhole(join(base, 'link', 'f'), 'y');
    expect(readFileSync(join(real, 'f'), 'utf8')).toBe('y');
    expect(readdirSync(real)).toEqual(['f']);
  });
});
