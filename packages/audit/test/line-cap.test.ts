import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMalformedLine, scanLines } from '@contid/audit';

/** The 16 MiB line cap holds whatever the read sizes: a 20 MiB line is never handed out. */
describe('line cap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-line-cap-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'big.log');
  writeFileSync(file, `type=USER msg=audit(1.000:1): a=${'A'.repeat(20 << 20)}\ntype=USER msg=audit(1.000:2): b=1\n`);

  it('a line over the cap is reported as oversized, the next one read', () => {
    const lines: number[] = [];
    const oversize: [number, number][] = [];
    scanLines(file, (_b, s, e) => void lines.push(e - s), { onOversize: (o, n) => void oversize.push([o, n]) });
    expect(lines).toEqual(['type=USER msg=audit(1.000:2): b=1'.length]);
    expect(oversize).toEqual([[0, (20 << 20) + 'type=USER msg=audit(1.000:1): a='.length]]);
  });

  it('--strict names it', () => {
    expect(findMalformedLine([file])).toEqual({ file, line: 1, reason: 'longer than the line cap' });
  });
});
