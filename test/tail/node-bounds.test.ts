import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { contid, tempStateDir } from '../helpers/cli';

/*
 * Outside attack 4 (finding 2): contid tail kept per-node state for every node= name it ever
 * saw (400,000 names: 203 MB peak, never released). A sender on a collector chooses its node=
 * text. The built CLI, fed the plugin stream of 6,000 one-record events under 6,000 names:
 * every event goes out, and the summary says how many nodes' boot tracking was let go (the
 * table keeps 4,096, least recently seen dropped). The peak RSS is measured in docs/tail.md.
 */
describe('contid tail: per-node state is bounded (outside attack)', () => {
  const tmp = tempStateDir('tail-node-bounds');
  afterAll(() => tmp.cleanup());

  it('6,000 node names: every event out, 1,904 nodes let go and said so on stderr', () => {
    const trustDir = join(tmp.dir, 'trust');
    mkdirSync(trustDir, { recursive: true });
    const t = Math.floor(Date.now() / 1000);
    const lines: string[] = [];
    for (let i = 1; i <= 6000; i++) {
      lines.push(`node=n${i}x${'a'.repeat(40)} type=USER msg=audit(${t}.${String(i % 1000).padStart(3, '0')}:${i}): pid=1 uid=0 auid=4294967295 ses=${i} msg='op=x res=success'`);
    }
    const r = contid(['tail', '--source', 'plugin', '--state-dir', join(tmp.dir, 'state'), '--trust-dir', trustDir, '--format', 'json'], {
      input: `${lines.join('\n')}\n`,
      env: tmp.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(r.status).toBe(0);
    const out = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { node: string; serial: number });
    expect(out.map((e) => e.serial)).toEqual(lines.map((_l, i) => i + 1));
    expect(r.stderr).toMatch(/nodes whose boot tracking was let go 1904\b/);
  });
});
