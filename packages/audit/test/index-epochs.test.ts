import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { SearchIndex, searchLogs } from '@contid/audit';

/*
 * A session number names a container only within the binding epoch that owns it: from the
 * LOGIN that allocated it (or the boot it was bound in) to the next LOGIN of that number or
 * the next boot of its node. An outside attack found the index's direct path handing a whole
 * merged byte range to the container of its first line, and every path attributing a later
 * boot's session to an earlier boot's binding when no LOGIN for it is in the input. Every
 * read path must give the selected container its own epoch's records and nothing else.
 * Records are shaped as this machine's auditd writes them (see fixtures).
 */
const N1 = ephemeralSigner('n1');
const N2 = ephemeralSigner('n2');
const trust = TrustStore.empty();
trust.add(N1.publicEntry);
trust.add(N2.publicEntry);
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';
const T = 1795000000;

type Life = Parameters<typeof signLifecycle>[0];
const life = (o: Partial<Life>): Life => ({ op: 'create', orchestrator: 'docker', name: 'A', runtimeId: null, pid: 10, session: 5, contid: parseContainerId('100'), parent: null, namespaces: {}, idPrefix: null, ...o }) as Life;
const pfx = (node: string): string => (node ? `node=${node} ` : '');
const signerOf = (node: string): typeof N1 => (node === 'n2' ? N2 : N1);
const bind = (node: string, stamp: string, l: Partial<Life>, sender = 3): string =>
  `${pfx(node)}type=VIRT_CONTROL msg=audit(${stamp}): pid=4000 uid=0 auid=0 ses=${sender} msg='${signLifecycle(life(l), signerOf(node), BOOT, Math.round(parseFloat(stamp) * 1000))} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`;
const login = (node: string, stamp: string, ses: number): string =>
  `${pfx(node)}type=LOGIN msg=audit(${stamp}): pid=${ses} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
const sys = (node: string, stamp: string, ses: number, exe: string): string =>
  `${pfx(node)}type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="x" exe="${exe}" key="k"`;
const title = (node: string, stamp: string): string => `${pfx(node)}type=PROCTITLE msg=audit(${stamp}): proctitle=6C73`;
const event = (node: string, stamp: string, ses: number, exe: string): string[] => [sys(node, stamp, ses, exe), title(node, stamp)];
describe('binding epochs and boots: every read path (an outside attack)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-epochs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  /** The container's raw lines by every way: full scan, session scan, index (direct bytes and decoded). */
  function everyWay(lines: string[], container: string): Record<string, string[]> {
    const log = join(dir, `audit-${n}.log`);
    writeFileSync(log, `${lines.join('\n')}\n`);
    const index = SearchIndex.open(join(dir, `index-${n++}`));
    index.build(log);
    const problems: string[] = [];
    const out: Record<string, string[]> = {};
    try {
      for (const [name, opts] of [['full', { fullScan: true }], ['scan', {}], ['index', { index }]] as const) {
        for (const raw of [true, false]) {
          const got: string[] = [];
          searchLogs({
            files: [log],
            filter: { container },
            attribution: { trust },
            ...opts,
            onEvent: (e) => got.push(...e.records.map((r) => r.raw)),
            rawOut: raw ? (b) => got.push(...b.toString('latin1').split('\n').filter(Boolean)) : undefined,
            onIndexProblem: (w) => problems.push(w),
          });
          out[`${name}${raw ? ' raw' : ''}`] = got.sort();
        }
      }
    } finally {
      index.close();
    }
    expect(problems).toEqual([]); // the index was used, not refused
    return out;
  }
  const expectEveryWay = (lines: string[], container: string, expected: string[]): void => {
    const ways = ['full', 'full raw', 'scan', 'scan raw', 'index', 'index raw'];
    expect(everyWay(lines, container)).toEqual(Object.fromEntries(ways.map((w) => [w, [...expected].sort()])));
  };

  describe.each([['unprefixed', ''], ['node= prefixed', 'n1']])('%s log', (_n, node) => {
    it('a session number allocated again (a new LOGIN, no boot seen) is not the old container\'s: not even in the index\'s merged ranges', () => {
      const mine = [login(node, `${T}.001:10`, 5), ...event(node, `${T}.010:20`, 5, '/a1')];
      const lines = [mine[0], bind(node, `${T}.002:11`, { name: 'A', session: 5 }), ...mine.slice(1), login(node, `${T + 500}.001:30`, 5), ...event(node, `${T + 500}.010:40`, 5, '/not-A-new-epoch')];
      expectEveryWay(lines, 'A', mine);
    });

    it('the new epoch bound to another container: each gets its own epoch\'s events', () => {
      const a = [login(node, `${T}.001:10`, 5), ...event(node, `${T}.010:20`, 5, '/a1')];
      const c = [login(node, `${T + 500}.001:30`, 5), ...event(node, `${T + 500}.010:40`, 5, '/c1')];
      const lines = [a[0], bind(node, `${T}.002:11`, { name: 'A', session: 5 }), ...a.slice(1), c[0], bind(node, `${T + 500}.002:31`, { name: 'C', session: 5, contid: parseContainerId('300') }), ...c.slice(1)];
      expectEveryWay(lines, 'A', a);
      expectEveryWay(lines, 'C', c);
    });
  });
});
