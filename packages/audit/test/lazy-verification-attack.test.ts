import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseContainerId, type ContainerId } from '@contid/core';
import { SearchIndex, searchLogs } from '@contid/audit';
import { T, bind, login, sys, title, trust } from './crafted-records';

/*
 * An outside attack on lazy verification (search verifies only the bindings that can change
 * its answer) found answers that differ from verifying every binding. Each case here is
 * theirs, built from genuine bindings only: lazy and full verification must agree, and both
 * must give the selected container's own records.
 */
const A = bind('n1', `${T}.002:11`, { name: 'A', session: 5, contid: parseContainerId('100') });
// node n2's genuine binding; n2's LOGIN rotated away, so only this binding names the node
const B = bind('n2', `${T}.003:900`, { name: 'B', session: 7, contid: parseContainerId('200') });
const LOGIN_A = login('n1', `${T}.001:10`, 5);

describe('lazy verification agrees with verifying every binding (an outside attack, genuine bindings only)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-lazy-attack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  /** How the last rawAnswers' index runs printed: 'bytes' when every line came as raw bytes (the direct path). */
  let indexWay: string[] = [];

  /**
   * The selected container's raw lines through the session scan and the index, lazily and
   * verifying all. The index must be used: a refused index would fall back to scanning and
   * hide the index's own answer.
   */
  function rawAnswers(lines: string[], filter: { container: string; includeNested?: boolean }, registry?: { get(id: ContainerId): unknown }): Record<string, string[]> {
    const log = join(dir, `audit-${n}.log`);
    writeFileSync(log, `${lines.join('\n')}\n`);
    const index = SearchIndex.open(join(dir, `index-${n++}`));
    index.build(log);
    const out: Record<string, string[]> = {};
    const problems: string[] = [];
    indexWay = [];
    try {
      for (const [name, opts] of [['scan', {}], ['index', { index }], ['full', { fullScan: true }]] as const) {
        for (const verifyAll of [false, true]) {
          const got: string[] = [];
          let decoded = 0;
          searchLogs({
            files: [log],
            filter,
            attribution: { trust, registry: registry as never },
            verifyAll,
            ...opts,
            onEvent: (e) => void (decoded++, got.push(...e.records.map((r) => r.raw))),
            rawOut: (b) => got.push(...b.toString('latin1').split('\n').filter(Boolean)),
            onIndexProblem: (why) => problems.push(`${name}: ${why}`),
          });
          if (name === 'index') indexWay.push(decoded === 0 ? 'bytes' : 'decoded');
          out[`${name}${verifyAll ? ' verifying all' : ''}`] = got.sort();
        }
      }
    } finally {
      index.close();
    }
    expect(problems).toEqual([]);
    return out;
  }
  const everyWay = (lines: string[]): Record<string, string[]> =>
    Object.fromEntries(['scan', 'scan verifying all', 'index', 'index verifying all', 'full', 'full verifying all'].map((k) => [k, [...lines].sort()]));

  it('another node\'s event with the same stamp is not printed inside the container\'s event', () => {
    const mine = [sys('n1', `${T}.010:50`, 5, '/usr/bin/in-A'), title('n1', `${T}.010:50`)];
    const lines = [LOGIN_A, A, B, mine[0], sys('n2', `${T}.010:50`, 7, '/usr/bin/n2-B-secret'), mine[1], title('n2', `${T}.010:50`)];
    expect(rawAnswers(lines, { container: 'A' })).toEqual(everyWay([LOGIN_A, ...mine]));
  });

  it('another node\'s line first, with the same stamp and session number, does not hide the container\'s event', () => {
    const mine = [sys('n1', `${T}.010:50`, 5, '/usr/bin/in-A'), title('n1', `${T}.010:50`)];
    const lines = [LOGIN_A, A, B, sys('n2', `${T}.010:50`, 5, '/usr/bin/n2-other'), ...mine];
    expect(rawAnswers(lines, { container: 'A' })).toEqual(everyWay([LOGIN_A, ...mine]));
  });

  it('another node\'s line with the same session number right after the container\'s is not copied with it (index)', () => {
    const mine = [sys('n1', `${T}.010:50`, 5, '/usr/bin/in-A'), title('n1', `${T}.010:50`)];
    const lines = [LOGIN_A, A, B, ...mine, sys('n2', `${T}.011:777`, 5, '/usr/bin/n2-unrelated')];
    expect(rawAnswers(lines, { container: 'A' })).toEqual(everyWay([LOGIN_A, ...mine]));
  });

  it.each([
    ['same stamp, its line after the container\'s', (mine: string[]) => [LOGIN_A, A, mine[0], sys('n2', `${T}.010:50`, 7, '/usr/bin/n2-secret'), mine[1]]],
    ['same stamp and session number, its line first', (mine: string[]) => [LOGIN_A, A, sys('n2', `${T}.010:50`, 5, '/usr/bin/n2-other'), ...mine]],
    ['same session number, the next line', (mine: string[]) => [LOGIN_A, A, ...mine, sys('n2', `${T}.011:777`, 5, '/usr/bin/n2-unrelated')]],
  ])('a node seen only in event lines (no LOGIN, no binding), %s: the raw shortcuts keep its lines apart', (_n, build) => {
    const mine = [sys('n1', `${T}.010:50`, 5, '/usr/bin/in-A'), title('n1', `${T}.010:50`)];
    expect(rawAnswers(build(mine), { container: 'A' })).toEqual(everyWay([LOGIN_A, ...mine]));
  });

  it('--include-nested keeps a child that only the registry links to the container (its create rotated away)', () => {
    const K = { name: 'K', session: 60, contid: parseContainerId('700'), parent: null };
    const lines = [
      LOGIN_A,
      A,
      sys('n1', `${T}.003:12`, 5, '/usr/bin/in-A'),
      login('n1', `${T}.004:13`, 60),
      bind('n1', `${T}.005:14`, { op: 'setns', ...K }, 5),
      sys('n1', `${T}.006:15`, 60, '/usr/bin/in-K'),
    ];
    const registry = { get: (id: ContainerId) => (String(id) === '700' ? { contid: id, name: 'K', orchestrator: 'docker', runtimeId: null, parent: parseContainerId('100'), image: 'busybox' } : undefined) };
    const answers = rawAnswers(lines, { container: 'A', includeNested: true }, registry);
    expect(answers['scan']).toEqual(answers['scan verifying all']);
    expect(answers['full']).toEqual(answers['full verifying all']);
    expect(answers['full']).toContain(lines[5]);
  });

  it('the index keeps the records without ses= (PROCTITLE) of a node= prefixed event, as the scan does', () => {
    const mine = [sys('n1', `${T}.010:50`, 5, '/usr/bin/in-A'), title('n1', `${T}.010:50`)];
    const answers = rawAnswers([LOGIN_A, A, ...mine], { container: 'A' });
    expect(answers['index']).toEqual([LOGIN_A, ...mine].sort());
    expect(answers['index']).toEqual(answers['scan']);
    // one node: the index's direct path copied the bytes (oneNode on prefixed lines)
    expect(indexWay).toEqual(['bytes', 'bytes']);
  });
});
