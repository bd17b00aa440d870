import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import { formatVolumeNote, parseVolumeNote, volumeBorn, volumeKey, volumeMaker } from '../src/front/volume-makers';
import type { Requester } from '@contid/docker';

// Outside attack 11, V3: a note names a volume's maker only for the volume born while the call
// that made it went on; the same name made again later (by root) is not the note's.
const mallory: Requester = { uid: 1001, auid: 1001, session: 7, pid: 4242, exe: '/usr/bin/docker' };
const S = 1_000_000_000n;
const T = 1_796_092_255n * S;

describe('volume makers', () => {
  test('a note round-trips; the key is 64 hex of the name alone', () => {
    const text = formatVolumeNote(mallory, 'db-data', T, T + S);
    expect(parseVolumeNote(text)).toEqual({ uid: 1001, name: 'db-data', since: T, until: T + S });
    expect(volumeKey('db-data')).toMatch(/^[0-9a-f]{64}$/);
    expect(volumeKey('db-data')).not.toBe(volumeKey('db-datA'));
    // A note without its window (a front that died before dockerd answered) names nobody.
    expect(parseVolumeNote(text.replace(/until=.*\n/, ''))).toBeNull();
    expect(parseVolumeNote('uid=1001\n')).toBeNull();
  });

  test.each([
    ['born during her call', T + S / 2n, 1001],
    ['born just before it went (the kernel\'s coarse clock)', T - 10_000_000n, 1001],
    ['born a second after it was answered (root made it again)', T + 2n * S, null],
    ['born a second before her call (root\'s, as she asked)', T - S, null],
    ['no directory', null, null],
  ])('a volume %s', (_what, born, maker) => {
    expect(volumeMaker(parseVolumeNote(formatVolumeNote(mallory, 'v', T, T + S)), 'v', born)).toBe(maker);
  });

  test("another name's note, or none, names nobody", () => {
    expect(volumeMaker(parseVolumeNote(formatVolumeNote(mallory, 'w', T, T + S)), 'v', T)).toBeNull();
    expect(volumeMaker(null, 'v', T)).toBeNull();
  });

  test("a volume's birth is its directory's (the Mountpoint's parent): birth time, else ctime", () => {
    const root = mkdtempSync(join(tmpdir(), 'contid-volowner-'));
    try {
      mkdirSync(join(root, 'v', '_data'), { recursive: true });
      const born = volumeBorn(join(root, 'v', '_data'));
      expect(typeof born).toBe('bigint');
      expect(born! > 0n).toBe(true);
      expect(volumeBorn(join(root, 'gone', '_data'))).toBeNull();
      expect(volumeBorn('relative/_data')).toBeNull();
      const noBirth = { isDirectory: () => true, birthtimeNs: 0n, ctimeNs: 42n } as unknown as BigIntStats;
      expect(volumeBorn('/x/_data', () => noBirth)).toBe(42n);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
