import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { SearchIndex, searchLogs } from '@contid/audit';

/*
 * A sender with CAP_AUDIT_WRITE writes whatever it likes inside a user record's msg='…'; the
 * kernel's own `pid= uid= auid= ses=` come first. Text saying ` ses=5 ` (anywhere, any number
 * of times, any sender session) must never put the record into session 5's container: the raw
 * session scan, the decoding path, the index and the full scan all return exactly the records
 * `ausearch --session 5` (the oracle, on the same file) returns.
 */
const SIGNER = ephemeralSigner('n1');
const trust = TrustStore.empty();
trust.add(SIGNER.publicEntry);
const T = 1795000000;
const life = { op: 'create', orchestrator: 'docker', name: 'A', runtimeId: null, pid: 10, session: 5, contid: parseContainerId('100'), parent: null, namespaces: {}, idPrefix: null } as Parameters<typeof signLifecycle>[0];
const HEAD = [
  `type=LOGIN msg=audit(${T}.001:10): pid=5 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=5 res=1`,
  `type=VIRT_CONTROL msg=audit(${T}.002:11): pid=4000 uid=0 auid=0 ses=4294967295 msg='${signLifecycle(life, SIGNER, '54f0d7e8a80944f09754f3cc4a654b57', (T + 0.002) * 1000)} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`,
];
const sys = (stamp: string, ses: number): string =>
  `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="x" exe="/usr/bin/x" key=(null)`;

/** Printable text with ` ses=5 ` (and look-alikes) planted in it; no newline (auditd writes none) and no 0x1D. */
const planted = fc
  .array(fc.oneof(fc.constantFrom(' ses=5 ', 'ses=5 ', ' ses=5', " ses=5 '", ' old-ses=5 ', ' ses=5 res=success'), fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 12 })), { minLength: 1, maxLength: 6 })
  .map((parts) => parts.join(''));
/** One event: the container's (session 5), or a user record from another session carrying planted text. */
const event = fc.oneof(
  fc.constant({ kind: 'container' as const }),
  fc.record({ kind: fc.constant('user' as const), ses: fc.constantFrom(7, 3, 4294967295), text: planted, type: fc.constantFrom('USER_AVC', 'USER', 'USER_CMD', 'VIRT_MACHINE_ID'), enriched: fc.boolean() }),
);

/** Every way of reading `log` for container A, and ausearch --session 5 on it (enriched parts cut, as raw output does). */
function answers(log: string, indexDir: string): { oracle: string[]; got: Record<string, string[]> } {
  const oracle = spawnSync('ausearch', ['--session', '5', '--raw', '-if', log], { encoding: 'latin1' })
    .stdout.split('\n')
    .filter(Boolean)
    .map((l) => l.split('\x1d')[0])
    .sort();
  const index = SearchIndex.open(indexDir);
  try {
    index.build(log);
    const got: Record<string, string[]> = {};
    for (const [name, opts] of [
      ['raw scan', { raw: true }],
      ['decoding scan', {}],
      ['index', { index, raw: true }],
      ['full scan', { fullScan: true }],
    ] as const) {
      const lines: string[] = [];
      const { raw, ...rest } = opts as { raw?: boolean };
      searchLogs({
        files: [log],
        filter: { container: 'A' },
        attribution: { trust },
        ...rest,
        onEvent: (e) => lines.push(...e.records.map((r) => r.raw)),
        rawOut: raw ? (b) => lines.push(...b.toString('latin1').split('\n').filter(Boolean)) : undefined,
      });
      got[name] = lines.sort();
    }
    return { oracle, got };
  } finally {
    index.close();
  }
}

describe('text planted in user records never moves them into a container (property, ausearch oracle)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-planted-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('raw scan, decoding, index and full scan return ausearch --session 5', () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 12 }), (events) => {
        const lines = [...HEAD];
        events.forEach((e, i) => {
          const stamp = `${T}.${String(100 + i).padStart(3, '0')}:${100 + i}`;
          if (e.kind === 'container') lines.push(sys(stamp, 5), `type=PROCTITLE msg=audit(${stamp}): proctitle=78`);
          else lines.push(`type=${e.type} msg=audit(${stamp}): pid=99 uid=0 auid=0 ses=${e.ses} msg='${e.text}'${e.enriched ? '\x1dUID="root" AUID="root"' : ''}`);
        });
        const log = join(dir, `audit-${run}.log`);
        writeFileSync(log, `${lines.join('\n')}\n`, 'latin1');
        const { oracle, got } = answers(log, join(dir, `index-${run++}`));
        expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, oracle])));
      }),
      { numRuns: 40 },
    );
  });

  /*
   * Records of one event far apart, as on a busy machine: the kernel logs an AVC while the
   * syscall runs and the SYSCALL at its exit, other CPUs' records in between; it numbers each
   * event when its first record goes out. A host syscall that logged nothing while it ran
   * writes all its records at its exit, together (the scan's backward walk relies on it: it
   * gives up after 8 lines of events numbered before the hit's). Every way of reading returns ausearch's records.
   * Late records fall far below the highest serial so far, with their event's older stamp:
   * not a new boot (boot-watch.ts).
   */
  const container = fc.record({ avc: fc.boolean(), gaps: fc.array(fc.integer({ min: 0, max: 90 }), { minLength: 3, maxLength: 3 }) });
  const host = fc.record({ user: fc.boolean(), text: planted });
  it('an event\'s records far apart (AVC … SYSCALL … PROCTITLE, host events between): every way returns ausearch --session 5', () => {
    let run = 0;
    fc.assert(
      fc.property(fc.array(container, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(400), host), { minLength: 10, maxLength: 100 }), (mine, noise) => {
        // [sort key, event number, record template]; an event's records keep their order
        const recs: [number, number, (stamp: string) => string][] = [];
        mine.forEach((c, i) => {
          let key = i * 100;
          if (c.avc) recs.push([key, i, (st) => `type=AVC msg=audit(${st}): avc:  denied  { read } for  pid=77 comm="x" name="shadow" dev="sda1" ino=1 scontext=system_u:system_r:container_t:s0 tcontext=system_u:object_r:shadow_t:s0 tclass=file permissive=0`]);
          recs.push([(key += c.gaps[0] + 1), i, (st) => sys(st, 5)]);
          recs.push([(key += c.gaps[1] + 1), i, (st) => `type=CWD msg=audit(${st}): cwd="/"`]);
          recs.push([(key += c.gaps[2] + 1), i, (st) => `type=PROCTITLE msg=audit(${st}): proctitle=78`]);
        });
        noise.forEach(([at, h], j) => {
          const i = mine.length + j;
          if (h.user) recs.push([at, i, (st) => `type=USER_CMD msg=audit(${st}): pid=99 uid=0 auid=0 ses=3 msg='${h.text}'`]);
          else {
            // a syscall that logged nothing while it ran: all its records go out at its exit, together
            recs.push([at, i, (st) => sys(st, 3)]);
            for (const k of [1, 2, 3]) recs.push([at, i, (st) => `type=PATH msg=audit(${st}): item=${k} name="/etc/f${k}" inode=2 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`]);
            recs.push([at, i, (st) => `type=PROCTITLE msg=audit(${st}): proctitle=79`]);
          }
        });
        recs.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
        const serialOf = new Map<number, number>();
        const lines = [...HEAD];
        for (const [, ev, line] of recs) {
          if (!serialOf.has(ev)) serialOf.set(ev, 100 + serialOf.size);
          const serial = serialOf.get(ev)!;
          lines.push(line(`${T + 1}.${String(serial % 1000).padStart(3, '0')}:${serial}`));
        }
        const log = join(dir, `far-${run}.log`);
        writeFileSync(log, `${lines.join('\n')}\n`, 'latin1');
        const { oracle, got } = answers(log, join(dir, `far-index-${run++}`));
        expect(oracle.length).toBeGreaterThan(0);
        expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, oracle])));
      }),
      { numRuns: 40 },
    );
  });

  it('an event whose records are megabytes apart (beyond the scan\'s buffer): every way returns ausearch --session 5', () => {
    // 45 host events of ≈ 50 KB each (an execve's long argv: EXECVE records of ≤ 7.5 KB) between
    // the records of each event; the late records fall 90 serials behind (not a boot: boot-watch.ts)
    let serial = 100;
    const host = (n: number): string[] =>
      Array.from({ length: n }, () => {
        const st = `${T + 1}.500:${serial++}`;
        return [sys(st, 3), ...Array.from({ length: 7 }, (_, k) => `type=EXECVE msg=audit(${st}): argc=7 a${k}=${'41'.repeat(3600)}`), `type=PROCTITLE msg=audit(${st}): proctitle=79`];
      }).flat();
    const avc = (st: string): string => `type=AVC msg=audit(${st}): avc:  denied  { read } for  pid=77 comm="x" name="shadow" dev="sda1" ino=1 tclass=file permissive=0`;
    const k1 = `${T + 1}.400:${serial++}`;
    const lines = [...HEAD, avc(k1), ...host(45), sys(k1, 5), ...host(45), `type=PROCTITLE msg=audit(${k1}): proctitle=78`];
    const k2 = `${T + 1}.600:${serial++}`;
    lines.push(sys(k2, 5), ...host(45), `type=PROCTITLE msg=audit(${k2}): proctitle=78`, ...host(3));
    const log = join(dir, 'far-mb.log');
    writeFileSync(log, `${lines.join('\n')}\n`, 'latin1');
    const { oracle, got } = answers(log, join(dir, 'far-mb-index'));
    expect(oracle.filter((l) => l.includes(k1) || l.includes(k2))).toHaveLength(5);
    expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, oracle])));
  });

  it('an EOE after the PROCTITLE (logs relayed with end-of-event records) is part of the event: every way returns ausearch --session 5', () => {
    const event = (st: string, ses: number): string[] => [sys(st, ses), `type=CWD msg=audit(${st}): cwd="/"`, `type=PROCTITLE msg=audit(${st}): proctitle=78`, `type=EOE msg=audit(${st}): `];
    const log = join(dir, 'eoe.log');
    writeFileSync(log, `${[...HEAD, ...event(`${T}.010:50`, 5), ...event(`${T}.011:51`, 3), ...event(`${T}.012:52`, 5)].join('\n')}\n`, 'latin1');
    const { oracle, got } = answers(log, join(dir, 'eoe-index'));
    expect(oracle.filter((l) => l.startsWith('type=EOE'))).toHaveLength(2);
    expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, oracle])));
  });
});
