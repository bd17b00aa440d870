import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { NodeSigner, TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { SearchIndex, searchLogs } from '@contid/audit';

/**
 * A collector's log holds several nodes' streams interleaved line by line, and their stamps
 * need not agree: node B's records may be minutes older than node A's live records next to
 * them (a slow sender, a clock behind, a backlog). Each node's container must get exactly the
 * events `ausearch --node N --session S` (3.0.9, the oracle, run on the same file) returns,
 * with every read path (full scan, session scan, index).
 */
const FIX = join(__dirname, 'fixtures');
/** A real session of this machine (LOGIN, its binding, execs), session 1625. */
const SESSION = readFileSync(join(FIX, 'session-raw.log'), 'latin1').split('\n').filter((l) => l.startsWith('type='));
const SES = 1625;
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';
const A = ephemeralSigner('node-a');
const B = ephemeralSigner('node-b');
const trust = TrustStore.empty();
trust.add(A.publicEntry);
trust.add(B.publicEntry);

const stampOf = (line: string): [number, number, number] => {
  const m = /audit\((\d+)\.(\d{3}):(\d+)\)/.exec(line)!;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
};
const restamp = (line: string, dSec: number, dSerial: number): string =>
  line.replace(/audit\((\d+)\.(\d{3}):(\d+)\)/, (_m, s: string, ms: string, n: string) => `audit(${Number(s) + dSec}.${ms}:${Number(n) + dSerial})`);

type Life = Parameters<typeof signLifecycle>[0];
const life = (o: Partial<Life>): Life => ({
  op: 'create', orchestrator: 'docker', name: 'web', runtimeId: null, pid: 3825, session: SES, contid: parseContainerId('100'), parent: null, namespaces: {}, idPrefix: null, ...o,
});

/** A signed binding record at `line`'s stamp, sent from a session the kernel stamps `sender`. */
function binding(line: string, signer: NodeSigner, l: Partial<Life>, sender = 4294967295): string {
  const [s, ms, n] = stampOf(line);
  const text = signLifecycle(life(l), signer, BOOT, s * 1000 + ms);
  return `type=VIRT_CONTROL msg=audit(${s}.${String(ms).padStart(3, '0')}:${n}): pid=3825 uid=0 auid=0 ses=${sender} msg='${text} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`;
}

/**
 * The captured session as one node's: stamps shifted, its binding re-signed for that node's
 * container. `loginLast`: the LOGIN record after the SYSCALL and PROCTITLE of its own stamp —
 * as `ausearch --raw` re-emits them when the SYSCALL's event held the lower slot (ausearch
 * prints equal stamps in slot order), which is how a relayed stream can carry them.
 */
function nodeSession(signer: NodeSigner, name: string, contid: string, dSec: number, loginLast = false): string[] {
  const lines = SESSION.map((l) => restamp(l, dSec, 0)).map((l) => (l.startsWith('type=VIRT_CONTROL') ? binding(l, signer, { name, contid: parseContainerId(contid) }) : l));
  if (loginLast) lines.splice(2, 0, lines.shift()!); // LOGIN, SYSCALL, PROCTITLE → SYSCALL, PROCTITLE, LOGIN
  return lines.map((l) => `node=${signer.node} ${l}`);
}

/**
 * Node A's later live traffic: other sessions logging in, being bound and running, stamped
 * `dSec` after the captured session (serials go on rising).
 */
function liveTraffic(count: number, dSec: number): string[] {
  const [s0, , n0] = stampOf(SESSION[SESSION.length - 1]);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const ses = 2000 + i;
    const t = `${s0 + dSec + i}.${String(100 + i).padStart(3, '0')}`;
    const n = n0 + 1000 + 10 * i;
    const login = `type=LOGIN msg=audit(${t}:${n}): pid=${5000 + i} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
    out.push(login);
    out.push(`type=SYSCALL msg=audit(${t}:${n}): arch=c000003e syscall=1 success=yes exit=1 a0=15 a1=7fff2944eda8 a2=1 a3=1b6 items=0 ppid=1 pid=${5000 + i} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="node" exe="/usr/bin/node" key=(null)`);
    out.push(`type=PROCTITLE msg=audit(${t}:${n}): proctitle=6E6F6465`);
    out.push(binding(`type=X msg=audit(${t}:${n + 1}):`, A, { name: `live-${i}`, contid: parseContainerId(String(300 + i)), session: ses, pid: 5000 + i }));
    out.push(`type=SYSCALL msg=audit(${t}:${n + 2}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=${5000 + i} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="ls" exe="/usr/bin/ls" key="k"`);
    out.push(`type=CWD msg=audit(${t}:${n + 2}): cwd="/"`);
    out.push(`type=PATH msg=audit(${t}:${n + 2}): item=0 name="/usr/bin/ls" nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`);
    out.push(`type=PROCTITLE msg=audit(${t}:${n + 2}): proctitle=6C73`);
  }
  return out.map((l) => `node=${A.node} ${l}`);
}

/** Two streams merged as a collector receives them: `takeA[i]` says whose line comes next. */
function interleave(a: string[], b: string[], takeA: boolean[]): string[] {
  const out: string[] = [];
  let i = 0;
  let j = 0;
  for (let k = 0; i < a.length || j < b.length; k++) {
    const pickA = j >= b.length || (i < a.length && (takeA[k % Math.max(1, takeA.length)] ?? true));
    out.push(pickA ? a[i++] : b[j++]);
  }
  return out;
}

const eventKeys = (text: string): string[] => [...new Set([...text.matchAll(/audit\(([0-9.]+:\d+)\)/g)].map((x) => x[1]))].sort();

describe('skewed, interleaved streams of several nodes (collector log)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-skew-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let run = 0;

  /** `ausearch --node N --session S --raw` on the file: its lines (ausearch's oracle). */
  const ausearch = (log: string, node: string | null): string[] =>
    spawnSync('ausearch', [...(node ? ['--node', node] : []), '--session', String(SES), '--raw', '-if', log], { encoding: 'latin1', maxBuffer: 64 << 20 }).stdout.split('\n').filter(Boolean);

  function check(lines: string[]): void {
    const log = join(dir, `audit-${run}.log`);
    writeFileSync(log, `${lines.join('\n')}\n`, 'latin1');
    // a refused index falls back to scanning: the index's own answer must be the one compared
    const problems: string[] = [];
    const collect = (name: string, opts: Partial<Parameters<typeof searchLogs>[0]>): { keys: string[]; lines: string[] } => {
      const out: string[] = [];
      searchLogs({ files: [log], filter: { container: name }, attribution: { trust }, onEvent: (e) => out.push(...e.records.map((r) => r.raw)), onIndexProblem: (w) => problems.push(w), ...opts });
      return { keys: eventKeys(out.join('\n')), lines: out.sort() };
    };
    const index = SearchIndex.open(join(dir, `index-${run++}`));
    try {
      index.build(log);
      for (const [node, name] of [[A.node, 'web-a'], [B.node, 'web-b']]) {
        const expected = ausearch(log, node);
        expect(expected.length).toBeGreaterThan(3);
        // the full scan reads every line as ausearch does: the same records, event for event;
        // the fast paths never read the unrelated lines whose time-outs split events, so they
        // are compared by event stamps
        const full = collect(name, { fullScan: true });
        expect({ node, lines: full.lines }).toEqual({ node, lines: [...expected].sort() });
        const keys = eventKeys(expected.join('\n'));
        expect({ node, full: full.keys, scan: collect(name, {}).keys, index: collect(name, { index }).keys }).toEqual({ node, full: keys, scan: keys, index: keys });
      }
      expect(problems).toEqual([]);
    } finally {
      index.close();
    }
  }

  it('node B minutes older, line by line between node A\'s live records (LOGINs and bindings on both sides)', () => {
    const a = [...nodeSession(A, 'web-a', '100', 0), ...liveTraffic(12, 120)];
    const b = nodeSession(B, 'web-b', '101', 0, true);
    // A's session first (it happened), then B's copy of the same stamps arrives amid A's live records
    check([...a.slice(0, SESSION.length), ...interleave(a.slice(SESSION.length), b, [true, false])]);
  });

  it('any interleaving, any skew (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), fc.constantFrom(-600, -180, -3, 0, 3, 180), fc.integer({ min: 1, max: 12 }), fc.boolean(), (takeA, skewB, live, loginLast) => {
        const a = [...nodeSession(A, 'web-a', '100', 0), ...liveTraffic(live, 120)];
        const b = nodeSession(B, 'web-b', '101', skewB, loginLast);
        check(interleave(a, b, takeA));
      }),
      { numRuns: 25 },
    );
  });

  it.each([
    ['its LOGIN first, with its node= prefix', true, false],
    ['its LOGIN after its SYSCALL, with its node= prefix', true, true],
    ['its LOGIN after its SYSCALL, without a prefix', false, true],
  ])("one node's stream alone, %s: the raw bytes paths (index, session scan) return ausearch's events", (_n, prefixed, loginLast) => {
    const lines = nodeSession(B, 'web-b', '101', 0, loginLast).map((l) => (prefixed ? l : l.replace(/^node=\S+ /, '')));
    const log = join(dir, `alone-${run}.log`);
    writeFileSync(log, `${lines.join('\n')}\n`, 'latin1');
    const index = SearchIndex.open(join(dir, `index-${run++}`));
    try {
      index.build(log);
      const problems: string[] = [];
      const raw = (opts: Partial<Parameters<typeof searchLogs>[0]>): string[] => {
        const out: Buffer[] = [];
        searchLogs({ files: [log], filter: { container: 'web-b' }, attribution: { trust, unprefixedNode: B.node }, onEvent: () => undefined, rawOut: (b) => out.push(Buffer.from(b)), onIndexProblem: (w) => problems.push(w), ...opts });
        return eventKeys(Buffer.concat(out).toString('latin1'));
      };
      const expected = eventKeys(ausearch(log, prefixed ? B.node : null).join('\n'));
      expect(expected).toContain('1795927031.623:488653');
      expect({ scan: raw({}), index: raw({ index }) }).toEqual({ scan: expected, index: expected });
      expect(problems).toEqual([]); // the index was used, not refused
    } finally {
      index.close();
    }
  });
});
