import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { addExecveRule, deleteExecveRule, serial } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { execArgs, execveEvents, jsonEvents, startTail, until, type JsonEvent } from './live-helpers';

const AUDIT_LOG = '/var/log/audit/audit.log';
const key = `contid-tail-${randomBytes(4).toString('hex')}`;
const state = tempStateDir('tail');
const nameA = uniqueName('tailA');
const nameB = uniqueName('tailB');
let multicast: JsonEvent[] = [];
let logLines: string[] = [];

/** Serials of the execve SYSCALL records in session SES (any rule's key: see execveEvents), by ausearch over all logs. */
function execveSerials(ses: number): number[] {
  const r = spawnSync('ausearch', ['--input-logs', '--raw', '-sc', 'execve', '--session', String(ses)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('type=SYSCALL'))
    .map((l) => Number(serial(l)))
    .sort((a, b) => a - b);
}

/**
 * What auditd logged since SEC, across its rotated files, as a plugin would have received
 * it. Newest file first, so a rotation between two reads duplicates (removed) rather than
 * misses; then in serial order (records of one event keep theirs).
 */
function auditdLinesSince(sec: number): string[] {
  const files = [AUDIT_LOG, ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `${AUDIT_LOG}.${i}`)].filter((f) => existsSync(f));
  const seen = new Set<string>();
  const lines: { l: string; s: number; rank: number; i: number }[] = [];
  files.forEach((f, rank) => {
    readFileSync(f, 'latin1')
      .split('\n')
      .forEach((l, i) => {
        const t = /msg=audit\((\d+)\./.exec(l);
        if (!t || Number(t[1]) < sec || seen.has(l)) return;
        seen.add(l);
        lines.push({ l, s: Number(serial(l)), rank, i });
      });
  });
  // older files first within a serial (an event can straddle a rotation), then file order
  return lines
    .sort((a, b) => a.s - b.s || b.rank - a.rank || a.i - b.i)
    .map((x) => x.l);
}

/** Runs three commands in a fresh container NAME; returns its session. */
function workload(name: string, word: string): number {
  const r = contid(['exec', '--name', name, '--', 'sh', '-c', `cat /proc/self/sessionid; echo; /bin/echo ${word}-1; /bin/true; /bin/echo ${word}-2`], { env: state.env });
  expect(r.status).toBe(0);
  return Number(r.stdout.split('\n')[0]);
}

/** Our execs (see execveEvents: matched by session, not by our rule's key). */
const mine = execveEvents;
/** Successful execs only: execvp's failed tries along PATH are events too (no EXECVE record). */
const argvs = (events: JsonEvent[]): string[][] => mine(events).filter((e) => e.records.some((r) => r.type === 'EXECVE')).map(execArgs);

beforeAll(() => addExecveRule(key));
afterAll(() => {
  deleteExecveRule(key);
  state.cleanup();
});

describe('contid tail on the real kernel and auditd', () => {
  test('multicast: --container A shows A\'s events in order and none of B\'s', async () => {
    const startSec = Math.floor(Date.now() / 1000) - 1;
    const tail = await startTail(['--source', 'multicast', '--container', nameA, '--format', 'json'], state.env);
    const sesA = workload(nameA, 'alpha');
    const sesB = workload(nameB, 'bravo');
    await until(() => argvs(jsonEvents(tail.stdout())).some((a) => a.join(' ') === '/bin/echo alpha-2'));
    expect(await tail.stop()).toBe(0);
    multicast = jsonEvents(tail.stdout());
    expect(multicast.length).toBeGreaterThan(0);
    expect(multicast.every((e) => e.container?.name === nameA)).toBe(true);
    // contid exec's own execve of sh, then the three commands, in order.
    expect(argvs(multicast).map((a) => a.join(' '))).toEqual([
      expect.stringMatching(/^sh -c cat \/proc\/self\/sessionid/),
      'cat /proc/self/sessionid',
      '/bin/echo alpha-1',
      '/bin/true',
      '/bin/echo alpha-2',
    ]);
    expect(JSON.stringify(multicast)).not.toContain('bravo');
    expect(tail.stderr()).toMatch(/received \d+ records, dropped 0 /);

    // The oracle: ausearch over auditd's logs (they rotate under load) finds exactly these.
    await until(() => execveSerials(sesB).length >= 4, 10_000);
    expect(mine(multicast).map((e) => e.serial)).toEqual(execveSerials(sesA));
    logLines = auditdLinesSince(startSec);
  });

  test('plugin: auditd-format lines from the real log on stdin give the same events as multicast', async () => {
    expect(logLines.length).toBeGreaterThan(0);
    const tail = await startTail(['--source', 'plugin', '--container', nameA, '--format', 'json'], state.env, 'pipe');
    tail.child.stdin!.end(logLines.join('\n') + '\n');
    await until(() => tail.child.exitCode !== null, 15_000);
    expect(await tail.stop()).toBe(0);
    const plugin = jsonEvents(tail.stdout());
    const shape = (events: JsonEvent[]) => mine(events).map((e) => ({ serial: e.serial, records: e.records.map((r) => [r.type, r.fields]) }));
    expect(shape(plugin)).toEqual(shape(multicast));
    // and every other event of A (LOGIN, contid's binding record …) too
    const all = (events: JsonEvent[]) => events.map((e) => `${e.serial}:${e.records.map((r) => r.type).join(',')}`);
    expect(all(plugin)).toEqual(all(multicast));
    expect(plugin.every((e) => e.container?.name === nameA)).toBe(true);
  });

  test('file: following audit.log while auditd rotates it (SIGUSR1) loses nothing', async () => {
    const inodeBefore = statSync(AUDIT_LOG).ino;
    const tail = await startTail(['--source', 'file', '--container', nameA, '--format', 'json', '--file', AUDIT_LOG], state.env);
    const r = contid(
      ['exec', '--name', nameA, '--', 'sh', '-c', 'cat /proc/self/sessionid; echo; /bin/echo charlie-1; kill -USR1 $(pidof auditd); /bin/sleep 0.5; /bin/echo charlie-2; kill -USR1 $(pidof auditd); /bin/sleep 0.5; /bin/echo charlie-3'],
      { env: state.env },
    );
    expect(r.status).toBe(0);
    const ses = Number(r.stdout.split('\n')[0]);
    await until(() => argvs(jsonEvents(tail.stdout())).some((a) => a.join(' ') === '/bin/echo charlie-3'), 20_000);
    await tail.stop();
    expect(statSync(AUDIT_LOG).ino).not.toBe(inodeBefore);
    const got = jsonEvents(tail.stdout());
    expect(argvs(got).map((a) => a.join(' ')).filter((a) => a.includes('charlie'))).toEqual([
      expect.stringMatching(/^sh -c cat/),
      '/bin/echo charlie-1',
      '/bin/echo charlie-2',
      '/bin/echo charlie-3',
    ]);
    expect(mine(got).map((e) => e.serial)).toEqual(execveSerials(ses));
  });

  test('bad options are one line and a non-zero exit', () => {
    const r = contid(['tail', '--source', 'file', '--file', '/nonexistent/contid-tail.log'], { env: state.env });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^contid: cannot follow \/nonexistent\/contid-tail\.log: ENOENT$/)]);
    const nobody = contid(['tail', '--source', 'multicast'], { env: state.env, prefix: ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'] });
    expect(nobody.status).toBe(1);
    // (a reader who may not read the trust directory is told so first: it verifies with no key)
    expect(nobody.stderr).toMatch(/^(contid: cannot read trust directory \S+: EACCES\n)?contid: audit multicast: bind\(AUDIT_NLGRP_READLOG\): Operation not permitted — run as root \(CAP_AUDIT_READ\)\n$/);
    const s = contid(['tail', '--rotate-size', '12Q', '--output', '/tmp/x'], { env: state.env });
    expect(s.status).toBe(2);
    expect(s.stderr).toMatch(/^contid: --rotate-size must be a size like/);
  });
});
