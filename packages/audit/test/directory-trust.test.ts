import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirectory, othersMayReplaceEntries } from '@contid/core';
import { untrustedIndexReason } from '../src/index-check';

/**
 * One rule for "others may swap what is in this directory": the search index's parent and
 * every directory on the way to a file contid writes. A group-writable root directory without
 * the sticky bit (Debian's /var/local, root:staff 2775) counts as untrusted for both
 * (outside attack 7, F9). No root needed: the caller's own directories, chmod-ed.
 */
describe('one rule for directories others may write (index parent and output paths)', () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'contid-dirtrust-')));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const table: [number, string | null][] = [
    [0o755, null],
    [0o700, null],
    [0o2755, null],
    [0o775, 'its group may write without the sticky bit (mode 775)'],
    [0o2775, 'its group may write without the sticky bit (mode 2775)'],
    [0o770, 'its group may write without the sticky bit (mode 770)'],
    [0o757, 'everyone may write without the sticky bit (mode 757)'],
    [0o777, 'everyone may write without the sticky bit (mode 777)'],
    [0o1777, null],
    [0o1775, null],
  ];

  it.each(table.map(([mode, why]) => [mode.toString(8), String(why), mode, why] as const))('mode %s: %s', (_octal, _said, mode, why) => {
    expect(othersMayReplaceEntries(mode)).toBe(why);
    const parent = join(base, mode.toString(8));
    mkdirSync(join(parent, 'index'), { recursive: true, mode: 0o755 });
    chmodSync(parent, mode);
    // the index under it is believed, and a file written under it is, exactly when the rule says so
    expect(untrustedIndexReason(join(parent, 'index'), [])).toBe(why && `its parent ${parent}: ${why}`);
    if (why) expect(() => makeDirectory(join(parent, 'index', 'sub'))).toThrow(`${parent} is a directory ${why}`);
    else expect(makeDirectory(join(parent, 'index', 'sub'))).toBe(join(parent, 'index', 'sub'));
  });
});
