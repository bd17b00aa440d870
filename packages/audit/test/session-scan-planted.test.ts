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
        const oracle = spawnSync('ausearch', ['--session', '5', '--raw', '-if', log], { encoding: 'latin1' })
          .stdout.split('\n')
          .filter(Boolean)
          .map((l) => l.split('\x1d')[0])
          .sort();
        const index = SearchIndex.open(join(dir, `index-${run++}`));
        try {
          index.build(log);
          const answers: Record<string, string[]> = {};
          for (const [name, opts] of [
            ['raw scan', { raw: true }],
            ['decoding scan', {}],
            ['index', { index, raw: true }],
            ['full scan', { fullScan: true }],
          ] as const) {
            const got: string[] = [];
            const { raw, ...rest } = opts as { raw?: boolean };
            searchLogs({
              files: [log],
              filter: { container: 'A' },
              attribution: { trust },
              ...rest,
              onEvent: (e) => got.push(...e.records.map((r) => r.raw)),
              rawOut: raw ? (b) => got.push(...b.toString('latin1').split('\n').filter(Boolean)) : undefined,
            });
            answers[name] = got.sort();
          }
          expect(answers).toEqual(Object.fromEntries(Object.keys(answers).map((k) => [k, oracle])));
        } finally {
          index.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});
