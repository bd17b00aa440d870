import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { ClaimedBinding, EventFilter, relevantBindings, searchLogs } from '@contid/audit';

/**
 * search verifies only the bindings that can change its answer (Ed25519 costs about a
 * millisecond a binding): the answer — events, their container chains, and the rejections of
 * every binding that claims a selected container, name or session — is the one verifying
 * every binding gives, whatever forgeries, replays, re-tags and nested children the log holds.
 */
const SIGNER = ephemeralSigner('node-a');
const OTHER = ephemeralSigner('node-a'); // a key this reader has not imported
const trust = TrustStore.empty();
trust.add(SIGNER.publicEntry);
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';
const T0 = 1795000000;

type Life = Parameters<typeof signLifecycle>[0];
const life = (o: Partial<Life>): Life => ({ op: 'create', orchestrator: 'docker', name: 'web', runtimeId: null, pid: 10, session: 1, contid: parseContainerId('100'), parent: null, namespaces: {}, idPrefix: null, ...o });

/** One log line per call, stamps rising. */
class Log {
  readonly lines: string[] = [];
  private serial = 1000;
  private ms = 0;
  private stamp(): string {
    this.ms += 7;
    return `${T0 + Math.floor(this.ms / 1000)}.${String(this.ms % 1000).padStart(3, '0')}:${++this.serial}`;
  }
  login(ses: number): void {
    const s = this.stamp();
    this.lines.push(`type=LOGIN msg=audit(${s}): pid=${ses} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`);
  }
  exec(ses: number, what: string): void {
    const s = this.stamp();
    this.lines.push(`type=SYSCALL msg=audit(${s}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=${ses} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="${what}" exe="/usr/bin/${what}" key="k"`);
    this.lines.push(`type=PROCTITLE msg=audit(${s}): proctitle=6C73`);
  }
  /** A binding; `tamper` changes the signed text after signing (a forgery), `sender` is the kernel's ses= of the sender. */
  bind(l: Partial<Life>, opts: { signer?: typeof SIGNER; tamper?: boolean; sender?: number; replay?: string; boot?: string } = {}): string {
    const s = this.stamp();
    const ms = (T0 * 1000) + this.ms;
    let text = opts.replay ?? signLifecycle(life(l), opts.signer ?? SIGNER, opts.boot ?? BOOT, ms);
    if (opts.tamper) text = text.replace(/ vm-ses=\d+/, ` vm-ses=${l.session ?? 1}`).replace(/ vm="[^"]*"/, ` vm="${l.name ?? 'web'}"`).replace(/contid-sig=(.)/, (_m, c: string) => `contid-sig=${c === 'A' ? 'B' : 'A'}`);
    this.lines.push(`type=VIRT_CONTROL msg=audit(${s}): pid=4000 uid=0 auid=0 ses=${opts.sender ?? 4294967295} msg='${text} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`);
    return text;
  }
}

/** Containers c-1..c-N on sessions 1..N, a nested child, a setns, then the attacks `attacks` picks. */
function buildLog(n: number, attacks: number[]): string[] {
  const log = new Log();
  const texts: string[] = [];
  for (let i = 1; i <= n; i++) {
    log.login(i);
    texts.push(log.bind({ name: `c-${i}`, session: i, contid: parseContainerId(String(100 + i)), orchestrator: i % 3 === 0 ? 'lxc' : 'docker', runtimeId: `abcd${i}0` }));
    log.exec(i, 'ls');
  }
  log.login(50);
  log.bind({ name: 'child', session: 50, contid: parseContainerId('500'), parent: parseContainerId('102') }, { sender: 2 });
  log.exec(50, 'cat');
  log.login(51);
  log.bind({ op: 'setns', name: 'exec-into-c-1', session: 51, contid: parseContainerId('101') });
  log.exec(51, 'sh');
  log.login(52);
  log.bind({ name: 'child2', session: 52, contid: parseContainerId('502'), parent: parseContainerId('101') });
  log.exec(52, 'cat');
  for (const a of attacks) {
    const k = 1 + (a % n);
    switch (a % 7) {
      case 0: // a forged create claiming c-k's name on a new session
        log.login(60 + a);
        log.bind({ name: `c-${k}`, session: 60 + a, contid: parseContainerId(String(900 + a)) }, { tamper: true });
        log.exec(60 + a, 'evil');
        break;
      case 1: // a forged binding taking c-k's session for another container
        log.bind({ name: `evil-${a}`, session: k, contid: parseContainerId(String(900 + a)) }, { tamper: true });
        break;
      case 2: // c-k's binding replayed
        log.bind({}, { replay: texts[k - 1] });
        break;
      case 3: // an unknown key claiming c-k
        log.bind({ name: `c-${k}`, session: k, contid: parseContainerId(String(100 + k)) }, { signer: OTHER });
        break;
      case 4: // from inside c-k, re-tagging its own session (nesting)
        log.bind({ name: `x-${a}`, session: k, contid: parseContainerId(String(900 + a)), parent: parseContainerId(String(100 + k)) }, { sender: k });
        break;
      case 5: // from inside another container, a new container claiming c-k's name
        log.login(70 + a);
        log.bind({ name: `c-${k}`, session: 70 + a, contid: parseContainerId(String(900 + a)) }, { sender: 1 + ((k + 1) % n) });
        log.exec(70 + a, 'inside');
        break;
      default: // a genuine re-tag of c-k's session under another name
        log.bind({ name: `retag-${a}`, session: k, contid: parseContainerId(String(900 + a)) });
        log.exec(k, 'retagged');
    }
    log.exec(k, 'after');
  }
  return log.lines;
}

describe('search verifies only the bindings that can change its answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-lazy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let run = 0;

  function both(lines: string[], filter: EventFilter): { lazy: string[]; all: string[]; unchecked: number; rejected: [number, number] } {
    const file = join(dir, `audit-${run++}.log`);
    writeFileSync(file, `${lines.join('\n')}\n`, 'latin1');
    const go = (verifyAll: boolean): { out: string[]; unchecked: number; rejected: number } => {
      const out: string[] = [];
      let r: ReturnType<typeof searchLogs>;
      try {
        r = searchLogs({ files: [file], filter, attribution: { trust }, verifyAll, fullScan: true, onEvent: (e, chain) => out.push(`${e.serialText ?? String(e.serial)} ${chain.map((c) => `${c.name}/${c.contid}`).join('<')}`) });
      } catch (e) {
        // the note on rejected bindings counts those checked: compared below by count
        return { out: [`error: ${(e as Error).message.replace(/ \(rejected \d+ binding.*$/, '')}`], unchecked: 0, rejected: 0 };
      }
      return { out, unchecked: r.attributor.unchecked, rejected: r.attributor.rejectedCount };
    };
    const lazy = go(false);
    const all = go(true);
    expect(all.unchecked).toBe(0);
    // every rejection is found either way or left unchecked (never used, never needed)
    expect(lazy.rejected).toBeLessThanOrEqual(all.rejected);
    expect(all.rejected).toBeLessThanOrEqual(lazy.rejected + lazy.unchecked);
    return { lazy: lazy.out, all: all.out, unchecked: lazy.unchecked, rejected: [lazy.rejected, all.rejected] };
  }

  it('a name among twenty containers: one binding verified, the same events and chains', () => {
    const r = both(buildLog(20, []), { container: 'c-7' });
    expect(r.lazy).toEqual(r.all);
    expect(r.lazy.length).toBeGreaterThan(0);
    expect(r.unchecked).toBe(22); // the 19 other containers' bindings, the children's and c-1's setns
  });

  it("a container's setns (another session, bound by contid) and a child's parent are verified too", () => {
    const r = both(buildLog(3, []), { container: 'c-1' });
    expect(r.lazy).toEqual(r.all);
    expect(r.lazy.filter((l) => l.endsWith(' c-1/101')).length).toBe(4); // its LOGIN and exec, the setns session's LOGIN and exec
    const nested = both(buildLog(3, []), { container: 'child2' });
    expect(nested.lazy).toEqual(nested.all);
    expect(nested.lazy.some((l) => l.endsWith(' child2/502<c-1/101'))).toBe(true);
  });

  it('a node whose bindings claim two boots: all of its bindings are verified (boot boundaries come from verified bindings, in order)', () => {
    const log = new Log();
    log.bind({ name: 'old', session: 5, contid: parseContainerId('105') });
    log.exec(5, 'ls');
    log.bind({ name: 'other', session: 9, contid: parseContainerId('109') }, { boot: 'ffffffffffffffffffffffffffffffff' });
    log.exec(5, 'cat');
    const r = both(log.lines, { container: 'old' });
    expect(r.lazy).toEqual(r.all);
    expect(r.unchecked).toBe(0);
  });

  it.each([
    ['a forged create claiming the name', 0],
    ['a forged binding taking its session', 1],
    ['its binding replayed', 2],
    ['its re-tag from inside (nesting)', 4],
    ['a name claimed from inside another container', 5],
    ['a genuine re-tag of its session', 6],
  ])('%s is verified (and rejected or used) exactly as when every binding is verified', (_n, attack) => {
    const target = 1 + (attack % 8);
    const r = both(buildLog(8, [attack]), { container: `c-${target}` });
    expect(r.lazy).toEqual(r.all);
    if (attack !== 6) expect(r.rejected[0]).toBeGreaterThan(0);
  });

  it('any log, any selection: the same answer as verifying everything (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.array(fc.nat(60), { maxLength: 8 }),
        fc.oneof(
          fc.integer({ min: 1, max: 4 }).map((i): EventFilter => ({ container: `c-${i}` })),
          fc.integer({ min: 1, max: 4 }).map((i): EventFilter => ({ container: `c-${i}`, includeNested: true })),
          fc.integer({ min: 1, max: 4 }).map((i): EventFilter => ({ container: String(100 + i) })),
          fc.integer({ min: 1, max: 4 }).map((i): EventFilter => ({ container: `abcd${i}` })),
          fc.constantFrom<EventFilter>({ container: 'child' }, { container: 'child2' }, { orchestrator: 'lxc' }),
        ),
        (n, attacks, filter) => {
          const r = both(buildLog(n, attacks), filter);
          expect(r.lazy).toEqual(r.all);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("entries into a selected container: the entering sessions' bindings and every op=untagged/update binding are taken too", () => {
    const claim = (l: Partial<Life>): ClaimedBinding => ({ node: null, binding: { life: life(l), provenance: null, signature: null, senderSession: null } });
    const claims = [
      claim({ name: 'x', session: 1, contid: parseContainerId('1') }),
      claim({ name: 'y', session: 9, contid: parseContainerId('2') }), // started the root an entry went into
      claim({ op: 'untagged', name: 'z', session: null, pid: 77, contid: parseContainerId('3') }),
      claim({ name: 'w', session: 5, contid: parseContainerId('4') }),
    ];
    expect([...relevantBindings(claims, { ref: 'x' })]).toEqual([0]);
    expect([...relevantBindings(claims, { ref: 'x', sessions: [{ node: null, session: 9 }], ops: new Set(['untagged', 'update']) })].sort()).toEqual([0, 1, 2]);
  });
});
