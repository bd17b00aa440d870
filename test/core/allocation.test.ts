import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Registry } from '@contid/core';
import { tempStateDir } from '../helpers/cli';

const CORE = resolve(__dirname, '../../packages/core/dist/index.js');

/** One real OS process that opens the registry and allocates `n` IDs. */
function allocator(stateDir: string, n: number): Promise<string[]> {
  const script = `const {Registry}=require(${JSON.stringify(CORE)});const r=Registry.open(process.argv[1]);const out=[];for(let i=0;i<${n};i++)out.push(r.ids.allocate().toString());r.close();process.stdout.write(out.join('\\n'));`;
  return new Promise((resolveIds, reject) => {
    const child = spawn(process.execPath, ['-e', script, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => (code === 0 ? resolveIds(out.split('\n')) : reject(new Error(`allocator closed with ${code}`))));
  });
}

describe('ID allocation across real processes', () => {
  const state = tempStateDir('alloc');
  afterAll(() => state.cleanup());

  it('100 processes allocating at once never get the same ID', async () => {
    const dir = state.env.CONTID_STATE_DIR!;
    Registry.open(dir).close(); // migrations once, so the race is on allocation only
    const results = await Promise.all(Array.from({ length: 100 }, () => allocator(dir, 5)));
    const ids = results.flat();
    expect(ids).toHaveLength(500);
    expect(new Set(ids).size).toBe(500);
    // Each process sees its own IDs strictly increasing.
    for (const r of results) expect([...r].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1))).toEqual(r);
  });

  it('keeps counting across restarts of the registry (and with a node prefix)', async () => {
    const dir = state.env.CONTID_STATE_DIR!;
    const [before] = await allocator(dir, 1);
    const reg = Registry.open(dir);
    const maxBefore = BigInt(before);
    reg.ids.setNodePrefix(7);
    reg.close();
    const [after] = await allocator(dir, 1);
    expect(BigInt(after) >> 48n).toBe(7n);
    expect(BigInt(after) & ((1n << 48n) - 1n)).toBeGreaterThan(maxBefore);
  });
});
