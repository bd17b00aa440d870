import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { NodeSigner, TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { Attributor, AuditEvent, AuditRecord, Reassembler, formatAuditEvent, matchesFilter, parseRecord, parseTimeWords } from '@contid/audit';

const FIX = join(__dirname, 'fixtures');
const lines = (f: string): string[] => readFileSync(join(FIX, f), 'latin1').split('\n').filter((l) => l && !l.startsWith('----'));
const SIGNER = ephemeralSigner('node-a');
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';
const trustOf = (...signers: NodeSigner[]): TrustStore => {
  const t = TrustStore.empty();
  for (const s of signers) t.add(s.publicEntry);
  return t;
};
const TRUST = trustOf(SIGNER);
const NODE = '/usr/bin/node';

function events(records: AuditRecord[], timeoutMs?: number): AuditEvent[] {
  const r = new Reassembler({ timeoutMs });
  return [...records.flatMap((rec) => r.push(rec)), ...r.flush()];
}

function withOffsets(ls: string[]): AuditRecord[] {
  let off = 0;
  return ls.map((l) => {
    const rec = parseRecord(l, off);
    off += l.length + 1;
    if (!rec) throw new Error(`fixture line does not parse: ${l}`);
    return rec;
  });
}

describe('parseRecord on lines captured from this machine', () => {
  const enriched = lines('session-enriched.log');
  const raw = lines('session-raw.log');

  it.each([
    ['enriched LOGIN', enriched[0], { type: 'LOGIN', typeNumber: 1006, time: '1795927031.623', serial: 488653 }, { ses: '1625', 'old-ses': '4294967295', res: '1' }],
    ['raw LOGIN', raw[0], { type: 'LOGIN', typeNumber: 1006, serial: 488653, enriched: null }, { ses: '1625', auid: '0' }],
    ['enriched SYSCALL', enriched[1], { type: 'SYSCALL', typeNumber: 1300, serial: 488653 }, { syscall: '1', ses: '1625', comm: '"node"', key: '(null)' }],
    ['PROCTITLE (hex)', enriched[2], { type: 'PROCTITLE', typeNumber: 1327 }, {}],
    ['VIRT_CONTROL user record', enriched[3], { type: 'VIRT_CONTROL', typeNumber: 2500, serial: 488654 }, { pid: '3825', uid: '0', ses: '1625' }],
  ])('%s', (_name, line, head, fields) => {
    const rec = parseRecord(line)!;
    expect(rec).toMatchObject(head);
    for (const [k, v] of Object.entries(fields)) expect([k, rec.fields.get(k)]).toEqual([k, v]);
    expect(rec.raw).not.toContain('\x1d');
  });

  it('splits the msg body of a user record and keeps the sender fields apart', () => {
    const rec = parseRecord(enriched[3])!;
    expect(rec.msg.get('vm-ses')).toBe('1625');
    expect(rec.msg.get('exe')).toBe('"/usr/bin/node"');
    expect(rec.msg.get('contid')).toBe('13957774824000');
    expect(rec.fields.has('vm-ses')).toBe(false);
    expect(rec.body).toMatch(/^virt=contid op=create .* res=success$/);
    expect(rec.enriched?.get('AUID')).toBe('"root"');
  });

  it('reads the enriched part and the numeric type of UNKNOWN[n]', () => {
    expect(parseRecord(enriched[1])!.enriched?.get('SYSCALL')).toBe('write');
    expect(parseRecord('node=h1 type=UNKNOWN[1336] msg=audit(1.002:3): record=1 contid=4,^2')).toMatchObject({ node: 'h1', typeNumber: 1336, timeMs: 1002 });
  });

  it('raw and enriched captures reassemble into the same events; a LOGIN is an event of its own (ausearch)', () => {
    const a = events(withOffsets(enriched));
    const b = events(withOffsets(raw));
    expect(a.map((e) => e.serial)).toEqual(b.map((e) => e.serial));
    expect(a.slice(0, 2).map((e) => e.records.map((r) => r.type))).toEqual([['LOGIN'], ['SYSCALL', 'PROCTITLE']]);
    expect(a.reduce((n, e) => n + e.records.length, 0)).toBe(enriched.length);
  });

  it('the other record types captured here parse', () => {
    for (const l of lines('other-types-enriched.log')) expect(parseRecord(l)).not.toBeNull();
  });
});

describe('Attributor', () => {
  type Life = Parameters<typeof signLifecycle>[0];
  const life = (o: Partial<Life>): Life => ({ op: 'create', orchestrator: 'docker', name: 'web', runtimeId: 'abcdef123456', pid: 10, session: 7, contid: parseContainerId('100'), parent: null, namespaces: {}, idPrefix: null, ...o });
  const body = (o: Partial<Life>, signer: NodeSigner = SIGNER, boot = BOOT, timeMs = 5000): string => signLifecycle(life(o), signer, boot, timeMs);
  const virt = (serial: number, b: string, sender = 'pid=1 uid=0 auid=0 ses=3', exe = NODE, time = '5.000'): string =>
    `type=VIRT_CONTROL msg=audit(${time}:${serial}): ${sender} msg='${b} exe="${exe}" hostname=? addr=? terminal=? res=success'`;
  const login = (serial: number, ses: number, time = '5.000'): string => `type=LOGIN msg=audit(${time}:${serial}): pid=10 uid=0 old-auid=0 auid=0 tty=(none) old-ses=3 ses=${ses} res=1`;
  const sys = (serial: number, ses: number, time = '5.000'): string => `type=SYSCALL msg=audit(${time}:${serial}): arch=c000003e syscall=59 success=yes exit=0 pid=10 uid=0 auid=0 ses=${ses} comm="sh" key="k1"`;

  function run(log: string[], options: ConstructorParameters<typeof Attributor>[0] = { trust: TRUST }): { att: Attributor; evs: AuditEvent[] } {
    const recs = withOffsets(log.flatMap((l) => (/^(node=\S+ )?type=SYSCALL/.test(l) ? [l, l.replace('SYSCALL', 'PROCTITLE').replace(/: arch.*/, ': proctitle=7368')] : [l])));
    const att = new Attributor(options);
    for (const r of recs) att.observeRecord(r); // first pass: bindings
    return { att, evs: events(recs).sort((a, b) => a.timeMs - b.timeMs || a.serial - b.serial) }; // a lone LOGIN completes at flush
  }
  const who = (att: Attributor, e: AuditEvent): string | null => att.attribute(e)?.name ?? null;

  it('a binding written after the first events of its session still covers them (two passes)', () => {
    const { att, evs } = run([login(1, 7), sys(2, 7), virt(3, body({})), sys(4, 7), sys(5, 8)]);
    expect(evs.map((e) => [e.serial, who(att, e)])).toEqual([[1, 'web'], [2, 'web'], [3, null], [4, 'web'], [5, null]]);
    expect(att.rejectedCount).toBe(0);
  });

  it('a session number allocated again (reboot) ends the old binding', () => {
    const { att, evs } = run([login(1, 7), virt(2, body({})), sys(3, 7), login(4, 7), sys(5, 7)]);
    expect(evs.filter((e) => e.records[0].type === 'SYSCALL').map((e) => [e.serial, who(att, e)])).toEqual([[3, 'web'], [5, null]]);
  });

  it('setns adds a second session to the same contid; nesting resolves up the parent chain', () => {
    const { att, evs } = run([
      login(1, 7), virt(2, body({})), login(3, 9), virt(4, body({ op: 'setns', session: 9 })),
      login(5, 11), virt(6, body({ name: 'inner', contid: parseContainerId('200'), parent: parseContainerId('100'), session: 11 })),
      sys(7, 9), sys(8, 11),
    ]);
    const byser = (s: number): AuditEvent => evs.find((e) => e.serial === s)!;
    expect(who(att, byser(7))).toBe('web');
    const inner = att.attribute(byser(8))!;
    expect(att.chain(inner).map((c) => c.name)).toEqual(['inner', 'web']);
    expect(matchesFilter({ container: 'web' }, byser(8), att.chain(inner))).toBe(false);
    expect(matchesFilter({ container: 'web', includeNested: true }, byser(8), att.chain(inner))).toBe(true);
    expect(matchesFilter({ container: 'abcdef' }, byser(7), att.chain(att.attribute(byser(7))!))).toBe(true);
  });

  const signed = body({});
  const stranger = ephemeralSigner('node-a');
  it.each([
    ['a non-root sender', virt(2, signed, 'pid=1 uid=65534 auid=0 ses=3'), 'uid'],
    ['a key this reader has not imported', virt(2, body({}, stranger)), 'unknown-key'],
    ['a changed payload (bad signature)', virt(2, signed.replace('vm-ses=7', 'vm-ses=8')), 'signature'],
    ['a record with no signature (another program)', virt(2, signed.replace(/ contid-node=.*/, '')), 'unsigned'],
    ['a record cut by the kernel (truncated)', virt(2, signed).replace(/ exe=.*'/, "'").slice(0, -40), 'truncated'],
    ['a record cut inside its signature', virt(2, signed).replace(/ contid-sig=(\S{20})\S*/, ' contid-sig=$1'), 'signature'],
    ['a signature for another node', virt(2, body({}, ephemeralSigner('node-b'))), 'unknown-key'],
    ['a signed time far from the kernel time (replay)', virt(2, body({}, SIGNER, BOOT, 5000 + 3_600_000)), 'time'],
    ['text in the payload standing in for the trailer', virt(2, signed.replace(' contid-sig=', ' exe="/usr/bin/node" contid-sig='), undefined, '/tmp/evil'), 'malformed'],
  ])('a binding from %s is rejected and counted, never used', (_n, forged, reason) => {
    const { att, evs } = run([login(1, 7), forged, sys(3, 7)]);
    expect(evs.map((e) => who(att, e))).toEqual([null, null, null]);
    expect([att.rejectedCount, att.rejected[0].reason]).toEqual([1, reason]);
  });

  it('a duplicated binding (a replayed record) is rejected; the first one holds', () => {
    const { att, evs } = run([login(1, 7), virt(2, signed), virt(3, signed, 'pid=99 uid=0 auid=0 ses=3'), sys(4, 7)]);
    expect(who(att, evs.find((e) => e.serial === 4)!)).toBe('web');
    expect(att.rejected.map((r) => r.reason)).toEqual(['duplicate']);
  });

  it('a replay with another spelling of the same signature (base64url leaves 4 bits of the last character free) is no new binding', () => {
    const sig = / contid-sig=(\S+)/.exec(signed)![1];
    const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const respelled = signed.replace(sig, sig.slice(0, -1) + A[A.indexOf(sig[sig.length - 1]) ^ 1]);
    expect(Buffer.from(respelled.match(/ contid-sig=(\S+)/)![1], 'base64url')).toEqual(Buffer.from(sig, 'base64url'));
    const { att } = run([login(1, 7), virt(2, signed), virt(3, respelled, 'pid=99 uid=0 auid=4294967295 ses=4294967295')]);
    expect(att.rejected.map((r) => r.reason)).toEqual(['signature']);
  });

  it('a revoked key verifies nothing; the unknown key is named so the reader knows what to import', () => {
    const trust = trustOf(SIGNER);
    trust.add({ ...stranger.publicEntry, revoked: new Date(0).toISOString() });
    const { att } = run([login(1, 7), virt(2, body({}, stranger)), virt(3, body({ contid: parseContainerId('300') }, ephemeralSigner('node-c')))], { trust });
    expect(att.rejected.map((r) => r.reason)).toEqual(['revoked', 'unknown-key']);
    expect([...att.unknownKeys.values()].map((k) => k.node)).toEqual(['node-c']);
  });

  it('without any trusted key nothing is attributed; the legacy exe rule works only when asked for, and only for unsigned records', () => {
    const unsigned = signed.replace(/ contid-node=.*/, '');
    expect(run([login(1, 7), virt(2, signed), sys(3, 7)], {}).att.rejected.map((r) => r.reason)).toEqual(['unknown-key']);
    const legacy = run([login(1, 7), virt(2, unsigned), virt(3, unsigned.replace('contid=100', 'contid=300'), undefined, '/tmp/x'), sys(4, 7)], { legacyTrustedExes: [NODE] });
    expect(who(legacy.att, legacy.evs.find((e) => e.serial === 4)!)).toBe('web');
    expect(legacy.att.rejected.map((r) => r.reason)).toEqual(['exe']);
  });

  describe('nodes and boots', () => {
    const nodeB = ephemeralSigner('node-b');
    const trust = trustOf(SIGNER, nodeB);
    const at = (node: string, line: string): string => `node=${node} ${line}`;

    it("sessions are keyed by node: node-b's session 7 is not node-a's container", () => {
      const { att, evs } = run([at('node-a', login(1, 7)), at('node-a', virt(2, body({}))), at('node-b', login(1, 7)), at('node-b', sys(3, 7)), at('node-a', sys(4, 7))], { trust });
      expect(evs.filter((e) => e.records[0].type === 'SYSCALL').map((e) => [e.node, who(att, e)])).toEqual([['node-b', null], ['node-a', 'web']]);
    });

    it("in a log without node= prefixes (one node's own log) another node's genuine binding, replayed there, claims none of its sessions", () => {
      const replayed = body({ session: 7 }, nodeB);
      const log = [login(1, 7), sys(2, 7), virt(3, replayed, 'pid=66 uid=0 auid=4294967295 ses=4294967295'), sys(4, 7)];
      const { att, evs } = run(log, { trust, unprefixedNode: 'node-a' });
      expect(evs.filter((e) => e.records[0].type === 'SYSCALL').map((e) => who(att, e))).toEqual([null, null]);
      expect(att.rejected.map((r) => r.reason)).toEqual(['node']);
      // The same log read as node-b's (--log-node node-b) takes node-b's binding.
      const asB = run(log, { trust, unprefixedNode: 'node-b' });
      expect(asB.evs.filter((e) => e.records[0].type === 'SYSCALL').map((e) => who(asB.att, e))).toEqual(['web', 'web']);
    });

    it("a binding is tied to its node: node-b's key cannot bind for node-a, nor node-a's key in node-b's stream", () => {
      const forgedNode = body({}, nodeB).replace('contid-node=node-b', 'contid-node=node-a');
      const { att } = run([at('node-a', virt(2, forgedNode)), at('node-b', virt(3, body({ contid: parseContainerId('300') })))], { trust });
      expect(att.rejected.map((r) => r.reason)).toEqual(['signature', 'node']);
    });

    it("a later boot's session N does not inherit an earlier boot's binding, even without its LOGIN in the input", () => {
      const bootB = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
      const { att, evs } = run([
        login(90_000, 7, '5.000'), virt(90_001, body({})), sys(90_002, 7, '5.000'),
        // reboot: serials restart; session 7 of this boot has no LOGIN in the input
        login(120, 3, '900.000'), sys(121, 7, '900.000'),
        virt(130, body({ name: 'db', contid: parseContainerId('300'), session: 9 }, SIGNER, bootB, 901_000), undefined, undefined, '901.000'),
      ]);
      expect(evs.filter((e) => e.records[0].type === 'SYSCALL').map((e) => [e.serial, who(att, e)])).toEqual([[90_002, 'web'], [121, null]]);
      expect(att.rejectedCount).toBe(0);
    });
  });

  describe('bindings sent from inside a container (the sender ses is bound to it)', () => {
    // web (100) owns session 7; its processes send with ses=7: only the kernel-stamped sender
    // session tells a nested orchestrator from a container claiming what is not its own.
    const inWeb = 'pid=20 uid=0 auid=0 ses=7';
    const base = [login(1, 7), virt(2, body({}))];

    it('cannot re-tag their own session (a container re-tagging itself)', () => {
      const { att, evs } = run([...base, virt(3, body({ name: 'fake', contid: parseContainerId('300'), session: 7 }), inWeb), sys(4, 7)]);
      expect(who(att, evs.find((e) => e.serial === 4)!)).toBe('web');
      expect(att.rejected.map((r) => r.reason)).toEqual(['nesting']);
    });

    it('cannot bind a session to a container that is not their descendant', () => {
      const { att, evs } = run([...base, login(3, 9), virt(4, body({ name: 'other', contid: parseContainerId('300'), session: 9 }), inWeb), sys(5, 9)]);
      expect(who(att, evs.find((e) => e.serial === 5)!)).toBeNull();
      expect(att.rejected.map((r) => r.reason)).toEqual(['nesting']);
    });

    it('may create their own children (a nested orchestrator)', () => {
      const child = body({ name: 'child', contid: parseContainerId('300'), parent: parseContainerId('100'), session: 9 });
      const { att, evs } = run([...base, login(3, 9), virt(4, child, inWeb), sys(5, 9)]);
      expect(att.chain(att.attribute(evs.find((e) => e.serial === 5)!)!).map((c) => c.name)).toEqual(['child', 'web']);
      expect(att.rejectedCount).toBe(0);
    });
  });

  it('procfs kernels (emulated records): CONTAINER_ID aux records attribute with their parent chain', () => {
    const att = new Attributor({ trust: TRUST, procfsContid: true });
    const [ev] = events(withOffsets(['type=SYSCALL msg=audit(5.000:1): syscall=59 ses=4294967295 pid=3', 'type=CONTAINER_ID msg=audit(5.000:1): record=1 contid=4,^2,^1', 'type=PROCTITLE msg=audit(5.000:1): proctitle=7368']));
    const c = att.attribute(ev)!;
    expect(att.chain(c).map((x) => String(x.contid))).toEqual(['4', '2', '1']);
  });
});

describe('filters and formats', () => {
  it('ausearch time words and dates', () => {
    const now = new Date(2026, 10, 29, 10, 30, 0);
    expect(parseTimeWords(['today'], now)).toBe(new Date(2026, 10, 29).getTime());
    expect(parseTimeWords(['recent'], now)).toBe(now.getTime() - 600_000);
    expect(parseTimeWords(['yesterday'], now)).toBe(new Date(2026, 10, 28).getTime());
    expect(parseTimeWords(['this-week'], now)).toBe(new Date(2026, 10, 29).getTime()); // a Sunday
    expect(parseTimeWords(['11/29/2026', '09:00:00'], now)).toBe(new Date(2026, 10, 29, 9).getTime());
    expect(parseTimeWords(['09:15'], now)).toBe(new Date(2026, 10, 29, 9, 15).getTime());
    expect(parseTimeWords(['@1795927031'], now)).toBe(1795927031000);
    expect(parseTimeWords(['13/45/2026'], now)).toBeNull();
    expect(parseTimeWords(['soonish'], now)).toBeNull();
  });

  it('every format renders a captured event; ecs carries the container', () => {
    const [, ev] = events(withOffsets(lines('session-enriched.log').slice(0, 3))); // LOGIN, then SYSCALL + PROCTITLE
    const c = { contid: parseContainerId('13957774824000'), name: 'srch-t1', orchestrator: 'contid', runtimeId: null, parent: null, image: null };
    expect(formatAuditEvent('raw', ev, [c]).split('\n')[0]).toBe(ev.records[0].raw);
    expect(formatAuditEvent('interpret', ev, [c])).toMatch(/^---- container=srch-t1 .*\n.*SYSCALL.*syscall=write.*auid=root/s);
    const json = JSON.parse(formatAuditEvent('json', ev, [c]));
    expect(json).toMatchObject({ serial: 488653, container: { name: 'srch-t1', contid: '13957774824000' } });
    const ecs = JSON.parse(formatAuditEvent('ecs', ev, [c]));
    expect(ecs).toMatchObject({ container: { id: '13957774824000', name: 'srch-t1' }, orchestrator: { type: 'contid' }, event: { action: 'write', outcome: 'success' }, user: { id: '0', name: 'root' } });
    expect(ecs.process.title).toMatch(/^node packages\/cli\/dist\/main.js exec/);
  });
});

describe('bad input never crashes (property-based)', () => {
  const good = lines('session-enriched.log');
  const mangle = fc.oneof(
    fc.tuple(fc.constantFrom(...good), fc.nat()).map(([l, n]) => l.slice(0, n % (l.length + 1))), // truncated
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b).toString('latin1')), // binary garbage / non-UTF-8
    fc.string({ maxLength: 200 }).map((s) => `type=${s} msg=audit(1.000:1): ${s}`), // unknown types
    fc.tuple(fc.constantFrom(...good), fc.string()).map(([l, s]) => l.replace(/=/, `=${s}`)),
  );
  it('parse, reassemble, attribute and format any sequence of lines', () => {
    fc.assert(
      fc.property(fc.array(mangle, { maxLength: 40 }), (ls) => {
        const recs = ls.map((l, i) => parseRecord(l, i)).filter((r): r is AuditRecord => r !== null);
        const att = new Attributor({ trust: TRUST });
        for (const r of recs) att.observeRecord(r);
        for (const e of events(recs)) {
          const c = att.attribute(e);
          for (const f of ['raw', 'interpret', 'text', 'csv', 'json', 'ecs'] as const) formatAuditEvent(f, e, c ? att.chain(c) : []);
        }
      }),
      { numRuns: 300 },
    );
  });
  it('a multi-MB line is parsed or rejected without crashing', () => {
    expect(parseRecord(`type=SYSCALL msg=audit(1.000:1): a=${'A'.repeat(8 << 20)}`)?.fields.get('a')?.length).toBe(8 << 20);
    expect(parseRecord('\xff'.repeat(4 << 20))).toBeNull();
  });
});

describe('reading logs', () => {
  const { mkdtempSync, writeFileSync, rmSync } = require('node:fs') as typeof import('node:fs');
  const { tmpdir } = require('node:os') as typeof import('node:os');
  const { orderLogFiles, searchLogs } = require('@contid/audit') as typeof import('@contid/audit');

  it('rotated logs are read oldest first; a file rotated away meanwhile is skipped, not fatal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-audit-read-'));
    try {
      const ev = (serial: number): string => `type=USER_CMD msg=audit(5.000:${serial}): pid=1 uid=0 auid=0 ses=3 msg='cmd=true res=success'\n`;
      writeFileSync(join(dir, 'audit.log.2'), ev(1));
      writeFileSync(join(dir, 'audit.log.1'), ev(2));
      writeFileSync(join(dir, 'audit.log'), ev(3));
      writeFileSync(join(dir, 'other.txt'), 'x');
      const files = orderLogFiles([dir]);
      expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['audit.log.2', 'audit.log.1', 'audit.log']);
      const serials: number[] = [];
      const stats = searchLogs({ files: [...files.slice(0, 1), join(dir, 'audit.log.9'), ...files.slice(1)], filter: {}, onEvent: (e) => serials.push(e.serial) });
      expect([serials, stats.skipped]).toEqual([[1, 2, 3], 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('registry enrichment', () => {
  it('a container learned from the log takes its image from a real registry; an unlogged parent comes from it too', () => {
    const { mkdtempSync, rmSync } = require('node:fs') as typeof import('node:fs');
    const { tmpdir } = require('node:os') as typeof import('node:os');
    const { Registry, signLifecycle: sign } = require('@contid/core') as typeof import('@contid/core');
    const dir = mkdtempSync(join(tmpdir(), 'contid-audit-reg-'));
    const reg = Registry.open(dir);
    try {
      const parent = reg.registerContainer({ orchestrator: 'lxc', name: 'host-ct', image: null });
      const child = reg.registerContainer({ orchestrator: 'docker', name: 'web', image: 'nginx:1.27', parent: parent.contid });
      const body = sign({ op: 'create', orchestrator: 'docker', name: 'web', runtimeId: null, pid: 1, session: 7, contid: child.contid, parent: parent.contid, namespaces: {}, idPrefix: null }, SIGNER, BOOT, 5000);
      const lines = [
        `type=VIRT_CONTROL msg=audit(5.000:1): pid=1 uid=0 auid=0 ses=3 msg='${body} exe="${NODE}" hostname=? addr=? terminal=? res=success'`,
        'type=USER_CMD msg=audit(5.000:2): pid=9 uid=0 auid=0 ses=7 msg=\'cmd=true res=success\'',
      ];
      const att = new Attributor({ trust: TRUST, registry: reg });
      const evs = events(withOffsets(lines));
      evs.forEach((e) => att.observe(e));
      const c = att.attribute(evs[1])!;
      expect(c).toMatchObject({ name: 'web', image: 'nginx:1.27' });
      expect(att.chain(c).map((x) => [x.name, x.orchestrator])).toEqual([['web', 'docker'], ['host-ct', 'lxc']]);
    } finally {
      reg.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
