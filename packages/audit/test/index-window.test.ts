import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexWindowError, SearchIndex } from '../src/search-index';

/**
 * The index files a line without `ses=` under its event's session while that event can still
 * get records (3 s of audit time). A log with more events than it follows in that time is not
 * indexed at all rather than indexed with lines missing: search then reads the file itself.
 */
describe('search index window', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-index-window-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** `events` two-line events (SYSCALL with ses=, then a PATH without) in one second of audit time. */
  function log(name: string, events: number): string {
    const lines: string[] = [];
    for (let i = 0; i < events; i++) lines.push(`type=SYSCALL msg=audit(1795927031.${String(i % 1000).padStart(3, '0')}:${i + 1}): pid=1 ses=${(i % 7) + 1} x`);
    lines.push(`type=PATH msg=audit(1795927031.000:1): item=0 name="/late"`);
    const path = join(dir, name);
    writeFileSync(path, lines.join('\n') + '\n');
    return path;
  }

  it('a line of the first event after 300,000 others in its second: filed under its session, or the file left unindexed', () => {
    const index = SearchIndex.open(join(dir, 'idx'));
    try {
      const big = log('busy.log', 300_000);
      expect(() => index.build(big)).toThrow(IndexWindowError);
      expect(index.lookup(big)).toBeNull(); // nothing half written: search scans it
      // within the window the late line is its event's, whatever the number of keys in between
      const small = log('ok.log', 20_000);
      index.build(small);
      const entry = index.lookup(small)!;
      // the late PATH line, the file's last, ends session 1's last range (the old window of
      // 4,096 recent keys had forgotten its event: the line was filed nowhere)
      const ranges = index.sessionRanges(entry, 1);
      expect(ranges[ranges.length - 1]).toBe(entry.size);
    } finally {
      index.close();
    }
  });
});
