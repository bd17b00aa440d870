import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ephemeralSigner, parseContainerId, publishPublicKey, signLifecycle } from '@contid/core';
import { contid } from '../helpers/cli';

/*
 * An outside attack on `contid search`'s raw byte shortcuts (the session scan), no root needed:
 * each log below holds what the attacker can really make the kernel log, and every way of
 * searching (session scan in raw/text/interpret, decoding with --start, --include-nested, the
 * index, --strict) must return the events `ausearch --session 5` returns on the same file.
 *
 * F1: a process with CAP_AUDIT_WRITE (Docker's default) in session 7 sends a user record. The
 *     kernel writes its own `pid= uid= auid= ses=7` first; only the text inside msg='…' is the
 *     sender's, and that text says ` ses=5 `. The scan took the needle for the session and
 *     printed the record as container A's (session 5).
 * F2: an event's records more than 8 lines before (or 64 after) the record carrying ses= were
 *     lost: an AVC logged before its SYSCALL with host events in between vanished.
 */
const SIGNER = ephemeralSigner('n1');
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';
const T = 1795000000;

type Life = Parameters<typeof signLifecycle>[0];
const bind = (stamp: string, session: number, name: string, id: string): string => {
  const life = { op: 'create', orchestrator: 'docker', name, runtimeId: null, pid: 10, session, contid: parseContainerId(id), parent: null, namespaces: {}, idPrefix: null } as Life;
  return `type=VIRT_CONTROL msg=audit(${stamp}): pid=4000 uid=0 auid=0 ses=4294967295 msg='${signLifecycle(life, SIGNER, BOOT, Math.round(parseFloat(stamp) * 1000))} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`;
};
const login = (stamp: string, ses: number): string => `type=LOGIN msg=audit(${stamp}): pid=${ses} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
const sys = (stamp: string, ses: number, exe: string): string =>
  `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c a1=1 a2=0 a3=0 items=1 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="x" exe="${exe}" key=(null)`;
const title = (stamp: string): string => `type=PROCTITLE msg=audit(${stamp}): proctitle=6C73`;
/** A user record as the kernel logs it for a raw netlink sender in session `ses`: only `text` is the sender's. */
const userRecord = (stamp: string, ses: number, text: string): string => `type=USER_AVC msg=audit(${stamp}): pid=99 uid=0 auid=0 ses=${ses} msg='${text}'`;
/**
 * `n` host events (session 3) of five records each, numbered from `serial.next`: the kernel
 * numbers an event as its first record goes out, so events logged later carry higher serials.
 */
const hostEvents = (n: number, serial: { next: number }): string[] =>
  Array.from({ length: n }, () => {
    const s = `${T}.020:${serial.next++}`;
    return [
      sys(s, 3, '/usr/bin/host'),
      `type=CWD msg=audit(${s}): cwd="/root"`,
      `type=PATH msg=audit(${s}): item=0 name="/etc/hosts" inode=2 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`,
      `type=PATH msg=audit(${s}): item=1 name="/etc/passwd" inode=3 dev=00:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`,
      title(s),
    ];
  }).flat();
const avc = (stamp: string): string =>
  `type=AVC msg=audit(${stamp}): avc:  denied  { read } for  pid=77 comm="x" name="shadow" dev="sda1" ino=1 scontext=system_u:system_r:container_t:s0 tcontext=system_u:object_r:shadow_t:s0 tclass=file permissive=0`;

const HEAD = [login(`${T}.001:10`, 5), bind(`${T}.002:11`, 5, 'A', '100'), login(`${T}.003:12`, 7), bind(`${T}.004:13`, 7, 'B', '200')];

describe('raw byte shortcuts of search vs ausearch (an outside attack, no root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-raw-shortcuts-'));
  const trust = join(dir, 'trust');
  mkdirSync(trust);
  publishPublicKey(trust, SIGNER.publicEntry);
  const env = { ...process.env, CONTID_STATE_DIR: join(dir, 'state'), CONTID_NODE_NAME: 'n1' };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  const sorted = (text: string): string[] => text.split('\n').filter(Boolean).sort();
  /** ausearch --session 5 on the file: the oracle, on exactly the bytes contid reads. */
  const ausearch = (log: string, extra: string[] = []): string[] =>
    sorted(spawnSync('ausearch', ['--session', '5', '--raw', '-if', log, ...extra], { encoding: 'latin1' }).stdout);

  /** `contid search -c A` on `log` every way it can be read: name → stdout. */
  function everyPath(log: string, extra: string[] = []): Record<string, string> {
    const idx = join(dir, `idx-${n}`);
    const search = (args: string[]): string => {
      const r = contid(['search', '-q', '-if', log, '--trust-dir', trust, '-c', 'A', ...extra, ...args], { env });
      if (r.status !== 0 && r.status !== 1) throw new Error(`search ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const built = contid(['index', '-q', '-i', log, '--index-dir', idx], { env });
    expect(built.status).toBe(0);
    return {
      scan: search(['--no-index']),
      decoding: search(['--no-index', '--start', '@1']),
      nested: search(['--no-index', '--include-nested']),
      index: search(['--index-dir', idx]),
      strict: search(['--no-index', '--strict']),
    };
  }
  const write = (lines: string[]): string => {
    const log = join(dir, `audit-${n++}.log`);
    writeFileSync(log, `${lines.join('\n')}\n`, 'latin1');
    return log;
  };
  const expectAusearch = (log: string, extra: string[] = [], ausearchExtra: string[] = []): void => {
    const expected = ausearch(log, ausearchExtra);
    expect(expected.length).toBeGreaterThan(0);
    const got = Object.fromEntries(Object.entries(everyPath(log, extra)).map(([k, v]) => [k, sorted(v)]));
    expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, expected])));
  };

  it('F1: a user record sent from session 7 whose text says " ses=5 " is not container A\'s', () => {
    const planted = userRecord(`${T}.010:50`, 7, 'avc:  denied ses=5 { read } exe="/usr/bin/b" hostname=? addr=? terminal=? res=success');
    const log = write([...HEAD, planted, sys(`${T}.011:51`, 5, '/usr/bin/in-A'), title(`${T}.011:51`)]);
    expect(ausearch(log)).not.toContain(planted);
    expectAusearch(log);
  });

  it('F1: the same in an ENRICHED log, the planted text also before a kernel record of session 7', () => {
    const enriched = (l: string): string => `${l}\x1dAUID="root" UID="root"`;
    const log = write([
      ...HEAD.map(enriched),
      enriched(userRecord(`${T}.010:50`, 7, 'x ses=5 res=success')),
      enriched(sys(`${T}.011:51`, 5, '/usr/bin/in-A')),
      title(`${T}.011:51`),
      enriched(userRecord(`${T}.012:52`, 7, ' ses=5 ses=5  ses=5 ')),
      enriched(sys(`${T}.013:53`, 7, '/usr/bin/b')),
      title(`${T}.013:53`),
    ]);
    // raw output strips the enriched part, as ausearch --raw does not: compare the kernel parts
    const expected = ausearch(log).map((l) => l.split('\x1d')[0]);
    const got = everyPath(log);
    for (const [path, out] of Object.entries(got)) expect([path, sorted(out).map((l) => l.split('\x1d')[0])]).toEqual([path, expected]);
  });

  it('F2: an AVC logged before its SYSCALL with 20 host records in between is part of the event', () => {
    const log = write([...HEAD, avc(`${T}.010:50`), ...hostEvents(4, { next: 100 }), sys(`${T}.010:50`, 5, '/a-denied'), title(`${T}.010:50`)]);
    expectAusearch(log);
    // and in every format the event is found by the AVC's type (it was `<no matches>`)
    const shown = { raw: 'type=AVC', text: 'accessed-mac-policy-controlled-object using /a-denied', interpret: 'type=AVC' };
    for (const [format, text] of Object.entries(shown)) {
      const r = contid(['search', '-q', '-if', log, '--trust-dir', trust, '-c', 'A', '--no-index', '-m', 'AVC', '--format', format], { env });
      expect([format, r.status, r.stdout]).toEqual([format, 0, expect.stringContaining(text)]);
    }
  });

  it('F2: a PROCTITLE 70 host records after its SYSCALL is part of the event', () => {
    const log = write([...HEAD, sys(`${T}.010:50`, 5, '/usr/bin/in-A'), ...hostEvents(14, { next: 100 }), title(`${T}.010:50`)]);
    expectAusearch(log);
  });

  it('F2: interleaved events of the container and the host, each event\'s records far apart', () => {
    const lines = [...HEAD];
    const serial = { next: 60 };
    for (let i = 0; i < 6; i++) {
      const s = `${T}.0${30 + i}:${serial.next++}`;
      lines.push(avc(s), ...hostEvents(2 + i, serial), sys(s, 5, `/a${i}`), ...hostEvents(14, serial), title(s));
    }
    expectAusearch(write(lines));
  });
});
