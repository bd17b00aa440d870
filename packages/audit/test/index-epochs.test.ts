import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseContainerId } from '@contid/core';
import { SearchIndex, searchLogs } from '@contid/audit';
import { LivePipeline } from '../src/live/pipeline';
import { T, bind, login, sys, title, trust } from './crafted-records';

/*
 * A session number names a container only within the binding epoch that owns it: from the
 * LOGIN that allocated it (or the boot it was bound in) to the next LOGIN of that number or
 * the next boot of its node. An outside attack found the index's direct path handing a whole
 * merged byte range to the container of its first line, and every path attributing a later
 * boot's session to an earlier boot's binding when no LOGIN for it is in the input. Every
 * read path must give the selected container its own epoch's records and nothing else.
 * Records are shaped as this machine's auditd writes them (see fixtures).
 */
const pfx = (node: string): string => (node ? `node=${node} ` : '');
const event = (node: string, stamp: string, ses: number, exe: string): string[] => [sys(node, stamp, ses, exe), title(node, stamp)];
const daemonEnd = (node: string, time: number): string => `${pfx(node)}type=DAEMON_END msg=audit(${time}.000:827): op=terminate auid=0 uid=0 ses=4294967295 pid=25172 res=success`;
// auditd numbers its own DAEMON_* records with its own counter: their serial says nothing of the kernel's
const daemonStart = (node: string, time: number): string =>
  `${pfx(node)}type=DAEMON_START msg=audit(${time}.000:8629): op=start ver=3.0.9 format=enriched kernel=6.1.0 auid=4294967295 pid=300 uid=0 ses=4294967295 res=success`;

describe('binding epochs and boots: every read path (an outside attack)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-epochs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  /**
   * The container's raw lines by every way: full scan, session scan, index (direct bytes and
   * decoded). `lines` is one log, or several files in time order (rotated logs).
   */
  function everyWay(lines: string[] | string[][], container: string): Record<string, string[]> {
    const files = (Array.isArray(lines[0]) ? lines : [lines]) as string[][];
    const logs = files.map((f, i) => {
      const log = join(dir, `audit-${n}.log${i === files.length - 1 ? '' : `.${files.length - 1 - i}`}`);
      writeFileSync(log, `${f.join('\n')}\n`);
      return log;
    });
    const index = SearchIndex.open(join(dir, `index-${n++}`));
    for (const log of logs) index.build(log);
    const problems: string[] = [];
    const out: Record<string, string[]> = {};
    try {
      for (const [name, opts] of [['full', { fullScan: true }], ['scan', {}], ['index', { index }]] as const) {
        for (const raw of [true, false]) {
          const got: string[] = [];
          searchLogs({
            files: logs,
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
  const expectEveryWay = (lines: string[] | string[][], container: string, expected: string[]): void => {
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

  describe.each([['unprefixed', ''], ['node= prefixed', 'n1']])('%s log: a later boot (no LOGIN for the session in the input)', (_n, node) => {
    const a = [login(node, `${T}.001:100`, 5), ...event(node, `${T}.010:150`, 5, '/a1')];
    const bootOne = [a[0], bind(node, `${T}.002:101`, { name: 'A', session: 5 }), ...a.slice(1)];

    it('after auditd\'s DAEMON_END and DAEMON_START, the kernel serial restarting low: session 5 of the new boot is not A\'s', () => {
      const lines = [...bootOne, daemonEnd(node, T + 100), daemonStart(node, T + 200), ...event(node, `${T + 210}.000:40`, 5, '/boot2-not-A')];
      expectEveryWay(lines, 'A', a);
    });

    it('after a crash (no DAEMON records, only the serial restarting low): not A\'s either', () => {
      const lines = [...bootOne, ...event(node, `${T + 210}.000:7`, 5, '/boot2-not-A')];
      expectEveryWay(lines, 'A', a);
    });

    it('the new boot begins a rotated log\'s next file: the boot between the files is found (the index keeps each file apart)', () => {
      expectEveryWay([bootOne, [daemonStart(node, T + 200), ...event(node, `${T + 210}.000:40`, 5, '/boot2-not-A')]], 'A', a);
      const later = event(node, `${T + 210}.000:160`, 5, '/still-A');
      expectEveryWay([bootOne, [daemonStart(node, T + 200), ...later]], 'A', [...a, ...later]);
    });

    it('a record written late (its event\'s older stamp, hundreds of serials behind, as this machine\'s logs hold) is not a boot', () => {
      const host = event(node, `${T + 1}.000:700`, 3, '/host');
      const late = title(node, `${T}.005:230`);
      const later = event(node, `${T + 2}.000:710`, 5, '/still-A');
      expectEveryWay([...bootOne, ...host, late, ...later], 'A', [...a, ...later]);
    });

    it('a new boot\'s event with the serial and milliseconds of an earlier boot\'s event of another session is its own session\'s (the index keyed events without their seconds)', () => {
      const host = [login(node, `${T}.001:499`, 7), ...event(node, `${T}.010:500`, 7, '/host-boot1')];
      const mine = [login(node, `${T + 3600}.001:3`, 5), ...event(node, `${T + 3600}.009:499`, 5, '/a-visible'), ...event(node, `${T + 3600}.010:500`, 5, '/a-same-serial-and-ms')];
      const lines = [...host, daemonEnd(node, T + 100), daemonStart(node, T + 3590), mine[0], bind(node, `${T + 3600}.002:4`, { name: 'A', session: 5 }), ...mine.slice(1)];
      expectEveryWay(lines, 'A', mine);
    });

    it('a binding line after a higher-numbered record and a later one is no boot: the index compares its serial only where reading every line does', () => {
      // the kernel serial tops at 9003 (an older stamp) and the time at T+1 (serial 9001): the
      // binding's serial 101 is far below the top but its time is not the latest — no boot.
      // The index once replayed the binding's serial against the few lines it keeps for boots
      // (9003 and the file's latest line, 9002, which comes after the binding, not 9001) and
      // saw one, cutting A's LOGIN from its binding (found by the search-strategies property).
      const lines = [
        a[0],
        ...event(node, `${T - 1}.500:9003`, 3, '/host-old-stamp'),
        ...event(node, `${T + 1}.500:9001`, 3, '/host-later'),
        bind(node, `${T}.002:101`, { name: 'A', session: 5 }),
        ...a.slice(1),
        ...event(node, `${T + 1}.501:9002`, 3, '/host-latest'),
      ];
      expectEveryWay(lines, 'A', a);
    });

    it('one forged line with a low serial (a collector\'s sender chooses node=) is no boot: the session\'s later events are still A\'s (outside attack 4)', () => {
      const forged = `${pfx(node)}type=USER msg=audit(${T + 5}.000:1000): pid=1 uid=0 auid=4294967295 ses=4294967295 msg='op=x res=success'`;
      const later = [...event(node, `${T + 6}.000:9160`, 5, '/still-A'), ...event(node, `${T + 7}.000:9170`, 5, '/still-A-2')];
      const high = event(node, `${T + 2}.000:9000`, 3, '/host');
      expectEveryWay([...bootOne, ...high, forged, ...later], 'A', [...a, ...later]);
    });

    it('two records of the new count after the drop (a crash\'s first event) are a boot still', () => {
      const high = event(node, `${T + 2}.000:9000`, 3, '/host');
      expectEveryWay([...bootOne, ...high, ...event(node, `${T + 210}.000:7`, 5, '/boot2-not-A')], 'A', a);
    });

    it('auditd restarted without a reboot (DAEMON_START, serials go on): the session is still A\'s', () => {
      const later = event(node, `${T + 210}.000:160`, 5, '/still-A');
      const lines = [...bootOne, daemonEnd(node, T + 100), daemonStart(node, T + 200), ...later];
      expectEveryWay(lines, 'A', [...a, ...later]);
    });

    it('bound again in the new boot (its LOGIN rotated away): the new boot\'s events before and after the binding are the new container\'s', () => {
      const c = [...event(node, `${T + 210}.000:40`, 5, '/c-before-binding'), ...event(node, `${T + 230}.000:60`, 5, '/c-after')];
      const lines = [...bootOne, daemonStart(node, T + 200), ...c.slice(0, 2), bind(node, `${T + 220}.000:50`, { name: 'C', session: 5, contid: parseContainerId('300') }), ...c.slice(2)];
      expectEveryWay(lines, 'A', a);
      expectEveryWay(lines, 'C', c);
    });
  });

  it('a boot of node n2 ends only n2\'s epochs: n1\'s session 5 after it is still A\'s', () => {
    const mine = [login('n1', `${T}.001:100`, 5), ...event('n1', `${T}.010:150`, 5, '/a1')];
    const later = event('n1', `${T + 300}.000:170`, 5, '/a2');
    const lines = [
      mine[0],
      bind('n1', `${T}.002:101`, { name: 'A', session: 5 }),
      ...mine.slice(1),
      ...event('n2', `${T}.020:9000`, 7, '/n2-old-boot'),
      daemonStart('n2', T + 200),
      ...event('n2', `${T + 210}.000:12`, 5, '/n2-new-boot'),
      ...later,
    ];
    expectEveryWay(lines, 'A', [...mine, ...later]);
  });
});

describe('a later boot in a live stream (contid tail)', () => {
  it('session 5 of the new boot, no LOGIN for it: not the old boot\'s container', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'json', trust }, () => now);
    let out = String(p.push([login('', `${T}.001:100`, 5), bind('', `${T}.002:101`, { name: 'A', session: 5 }), ...event('', `${T}.010:150`, 5, '/a1')]));
    now += 5000;
    out += String(p.push([daemonEnd('', T + 100), daemonStart('', T + 200), ...event('', `${T + 210}.000:40`, 5, '/boot2-not-A'), ...event('', `${T + 211}.000:41`, 3, '/other')]));
    now += 5000;
    out += String(p.flush());
    const got = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { serial: number; container: { name: string } | null }).filter((e) => e.serial === 150 || e.serial === 40);
    expect(got.map((e) => [e.serial, e.container?.name ?? null])).toEqual([[150, 'A'], [40, null]]);
  });
});
