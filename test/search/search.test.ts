import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Registry, TrustStore, configFromEnv, formatContainerId } from '@contid/core';
import { SearchIndex, bytesToText, searchLogs } from '@contid/audit';
import { addExecveRule, deleteExecveRule, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { readCsvLine, unguarded } from '../helpers/csv';

/** Another program's sender (libaudit through koffi), shared with the security tests. */
const FORGE = resolve(__dirname, '../security/fixtures/forge-record.js');
const NOBODY_WITH_AUDIT_WRITE = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', '+audit_write', '--ambient-caps', '+audit_write'];

/** The event keys (TIME:SERIAL) in output text, sorted and unique. */
const keys = (text: string): string[] => [...new Set([...text.matchAll(/audit\(([0-9.]+:\d+)\)/g)].map((m) => m[1]))].sort();

/**
 * Real kernel, real auditd: containers tagged by `contid exec` run commands under an execve
 * rule; the log is then frozen into one file (auditd rotates fast here) so ausearch and
 * contid search read exactly the same bytes.
 */
describe('contid search on real audit events (ausearch oracle)', () => {
  const state = tempStateDir('search');
  state.env.CONTID_INDEX_DIR = join(state.dir, 'index');
  const log = join(state.dir, 'audit.log');
  const rule = uniqueName('contid-search');
  const [A, B, OUTER, INNER] = ['a', 'b', 'outer', 'inner'].map((n) => uniqueName(`srch-${n}`));
  const forgedUser = uniqueName('srch-forged-user');
  const forgedNobody = uniqueName('srch-forged-nobody');
  const sessionsOf: Record<string, number[]> = {};
  const contidOf: Record<string, string> = {};

  const search = (args: string[], input?: string): ReturnType<typeof contid> =>
    contid(['search', '-if', log, ...args], { env: state.env, input, maxBuffer: 64 << 20 } as never);
  const ausearchKeys = (sessions: number[]): string[] =>
    keys(sessions.map((s) => spawnSync('ausearch', ['--session', String(s), '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout).join('\n'));

  beforeAll(async () => {
    const mark = logMark();
    addExecveRule(rule);
    try {
      const exec = (name: string, script: string): void => {
        const r = contid(['exec', '--name', name, '--', 'sh', '-c', script], { env: state.env });
        expect([name, r.status, r.stderr]).toEqual([name, 0, '']);
      };
      exec(A, 'ls / >/dev/null; cat /etc/hostname >/dev/null; true');
      exec(OUTER, `true; ${process.execPath} ${CONTID_MAIN} exec --name ${INNER} -- sh -c 'ls /tmp >/dev/null; true'; true`);
      exec(B, 'id >/dev/null; true');
    } finally {
      deleteExecveRule(rule);
    }
    const reg = Registry.open(state.env.CONTID_STATE_DIR!, { readonly: true });
    for (const n of [A, B, OUTER, INNER]) {
      const c = reg.find(n)!;
      contidOf[n] = formatContainerId(c.contid);
      sessionsOf[n] = reg.bindings(c.contid).map((b) => b.session!).filter((s) => s !== null);
    }
    reg.close();
    // Forgeries: bindings that claim A for a session nobody owns, from other senders.
    const claim = (name: string): string => `virt=docker op=setns vm="${name}" uuid=? vm-pid=1 vm-ses=${sessionsOf[A][0]} contid=${contidOf[A]} parent-contid=? ns=? node=? mac=0123456789abcdef`;
    expect(run('auditctl', ['-m', claim(forgedUser)]).status).toBe(0);
    expect(run(NOBODY_WITH_AUDIT_WRITE[0], [...NOBODY_WITH_AUDIT_WRITE.slice(1), process.execPath, FORGE, '2500', claim(forgedNobody)]).status).toBe(0);
    await waitForAudit(['--vm-name', forgedNobody], (l) => l.length > 0);
    await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', B], (l) => l.some((x) => x.includes('op=end')));
    // Freeze the log from before the first record of this test, across rotations.
    freezeSince(mark, log);
  }, 120_000);
  afterAll(() => state.cleanup());

  it('--container X returns exactly the events of ausearch --session over X\'s sessions', () => {
    expect(sessionsOf[A].length).toBeGreaterThan(0);
    const expected = ausearchKeys(sessionsOf[A]);
    expect(expected.length).toBeGreaterThan(3);
    const r = search(['--container', A]);
    expect(r.status).toBe(0);
    expect(keys(r.stdout)).toEqual(expected);
    expect(r.stdout).toMatch(/type=EXECVE .*a0="ls"/);
    // by contid too, and through the full line-by-line path (--strict)
    expect(keys(search(['--container', contidOf[A]]).stdout)).toEqual(expected);
    const strict = search(['--container', A, '--strict']);
    expect([strict.status, keys(strict.stdout)]).toEqual([0, expected]);
  });

  it('nesting: the inner container is its own; --include-nested adds it to the outer', () => {
    expect(keys(search(['-c', INNER]).stdout)).toEqual(ausearchKeys(sessionsOf[INNER]));
    expect(keys(search(['-c', OUTER]).stdout)).toEqual(ausearchKeys(sessionsOf[OUTER]));
    expect(keys(search(['-c', OUTER, '--include-nested']).stdout)).toEqual(ausearchKeys([...sessionsOf[OUTER], ...sessionsOf[INNER]]));
    const json = search(['-c', INNER, '--json']).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(new Set(json.map((e) => e.container.name))).toEqual(new Set([INNER]));
    expect(json[0].parents).toEqual([contidOf[OUTER]]);
  });

  it('forged bindings (auditctl -m USER; uid 65534 with CAP_AUDIT_WRITE) are ignored, counted and listed', () => {
    const listed = search(['--show-rejected']);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`rejected\\(type\\) type=USER .*${forgedUser}`));
    expect(listed.stdout).toMatch(new RegExp(`rejected\\(uid\\) type=VIRT_CONTROL .*${forgedNobody}`));
    const a = search(['-c', A]);
    expect(a.stdout).not.toContain(forgedUser);
    expect(a.stderr).toMatch(/^contid: rejected \d+ binding record\(s\) that could not be verified \(.*\d+ uid.*\); their sessions are not attributed \(--show-rejected lists them\)$/m);
  });

  it('filters: -m, -k, --pid, --success, --uid, --auid, --start/--end, --orchestrator (ausearch agrees)', () => {
    const execs = search(['-c', A, '-m', 'EXECVE']).stdout;
    expect(keys(execs).length).toBeGreaterThan(0);
    expect(keys(execs).every((k) => keys(search(['-c', A]).stdout).includes(k))).toBe(true);
    expect(keys(search(['-c', A, '-k', rule]).stdout)).toEqual(keys(spawnSync('ausearch', ['-k', rule, '--session', String(sessionsOf[A][0]), '--raw', '-if', log], { encoding: 'utf8' }).stdout));
    const ausearchFor = (extra: string[]): string[] =>
      keys(spawnSync('ausearch', [...extra, '--session', String(sessionsOf[A][0]), '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);
    const pid = /type=SYSCALL .* pid=(\d+) .*comm="ls"/.exec(search(['-c', A]).stdout)![1];
    expect(keys(search(['-c', A, '--pid', pid]).stdout)).toEqual(ausearchFor(['-p', pid]));
    for (const yn of ['yes', 'no']) {
      const mine = keys(search(['-c', A, '--success', yn]).stdout);
      expect([yn, mine.length > 0, mine]).toEqual([yn, true, ausearchFor(['--success', yn])]);
    }
    expect(keys(search(['-c', A, '--uid', '0', '--auid', '0']).stdout)).toEqual(ausearchFor(['-ui', '0', '-ul', '0']));
    expect(search(['-c', A, '--uid', '4242']).stdout).toBe('');
    expect(search(['-c', A, '--start', '@4000000000']).stdout).toBe('');
    expect(keys(search(['-c', A, '--start', 'week-ago', '--end', 'now']).stdout)).toEqual(keys(search(['-c', A]).stdout));
    expect(keys(search(['--orchestrator', 'contid', '-c', B]).stdout)).toEqual(ausearchKeys(sessionsOf[B]));
    expect(search(['-c', A, '--success', 'maybe'])).toMatchObject({ status: 2, stderr: 'contid: --success must be yes or no, got "maybe"\n' });
    expect(search(['-c', A, '--start', 'soonish'])).toMatchObject({ status: 2 });
  });

  it('formats: interpret, json and ecs carry the container', () => {
    const n = keys(search(['-c', B]).stdout).length;
    const ecs = search(['-c', B, '--format', 'ecs']).stdout.trim().split('\n').map((l) => JSON.parse(l));
    // a LOGIN and the SYSCALL after it share a stamp but are two events (as in ausearch)
    expect(new Set(ecs.map((d) => `${d['@timestamp']}:${d.auditd.sequence}`)).size).toBe(n);
    for (const d of ecs) expect(d).toMatchObject({ container: { id: contidOf[B], name: B }, orchestrator: { type: 'contid' } });
    expect(ecs.some((d) => d.process.executable === '/usr/bin/id')).toBe(true);
    expect(search(['-c', B, '--interpret']).stdout).toMatch(new RegExp(`^---- container=${B} `, 'm'));
  });

  it('stdin (-) gives the same result as the file', () => {
    const r = contid(['search', '-if', '-', '-c', A], { env: state.env, input: readFileSync(log, 'latin1'), maxBuffer: 64 << 20 } as never);
    expect(r.stdout).toBe(search(['-c', A]).stdout);
    expect(keys(r.stdout)).toEqual(ausearchKeys(sessionsOf[A]));
  });

  it('bad input: garbage, truncated, non-UTF-8 and multi-MB lines are skipped and counted; --strict fails with one line', () => {
    const bad = join(state.dir, 'bad.log');
    const real = readFileSync(log);
    const mid = real.indexOf(0x0a, real.length >> 1) + 1;
    writeFileSync(bad, Buffer.concat([
      real.subarray(0, mid),
      Buffer.from('type=SYSCALL msg=audit(17\n'), // truncated head
      Buffer.from([0xff, 0xfe, 0x00, 0x1d, 0x80, 0x0a]), // binary, non-UTF-8
      Buffer.from(`garbage ${'x'.repeat(20 << 20)}\n`), // a 20 MB line
      Buffer.from('type=UNKNOWN[4242] msg=audit(1795927031.000:1): who=knows\n'), // unknown type: a record
      real.subarray(mid),
    ]));
    const r = contid(['search', '-if', bad, '-c', A, '--strict'], { env: state.env, maxBuffer: 64 << 20 });
    // --strict names the first bad line and prints nothing
    const firstBad = real.subarray(0, mid).toString('latin1').split('\n').length;
    expect([r.status, r.stdout, r.stderr]).toEqual([1, '', `contid: ${bad}:${firstBad}: not an audit record (--strict)\n`]);
    const lenient = contid(['search', '-if', bad, '-c', A], { env: state.env, maxBuffer: 64 << 20 });
    expect(lenient.status).toBe(0);
    expect(keys(lenient.stdout)).toEqual(ausearchKeys(sessionsOf[A]));
    const all = contid(['search', '-if', bad, '-m', 'UNKNOWN[4242]'], { env: state.env, maxBuffer: 64 << 20 });
    expect(all.stdout).toContain('who=knows');
    expect(all.stderr).toMatch(/skipped 3 of/);
  });

  it('contid index: repeat queries read the index and return the same events; a changed file is re-scanned', () => {
    const copy = join(state.dir, 'indexed.log');
    writeFileSync(copy, readFileSync(log));
    const cold = contid(['search', '-if', copy, '-c', A], { env: state.env, maxBuffer: 64 << 20 });
    const built = contid(['index', '-i', copy], { env: state.env });
    expect(built).toMatchObject({ status: 0, stdout: expect.stringMatching(/indexed \(\d+ sessions\)/) });
    expect(contid(['index', '-i', copy], { env: state.env }).stdout).toBe(`${copy}: up to date\n`);
    // raw ranges are copied as bytes (enriched parts stripped), json goes through the parser
    const indexed = contid(['search', '-if', copy, '-c', A], { env: state.env, maxBuffer: 64 << 20 });
    expect(indexed.stdout).toBe(cold.stdout);
    expect(indexed.stdout).not.toContain('\x1d');
    expect(keys(indexed.stdout)).toEqual(ausearchKeys(sessionsOf[A]));
    const viaIndexJson = contid(['search', '-if', copy, '-c', OUTER, '--include-nested', '--json'], { env: state.env, maxBuffer: 64 << 20 }).stdout;
    const scannedJson = contid(['search', '-if', copy, '-c', OUTER, '--include-nested', '--json', '--no-index'], { env: state.env, maxBuffer: 64 << 20 }).stdout;
    expect(viaIndexJson).toBe(scannedJson);
    // through the index nothing is decoded line by line (the cold scan decodes every candidate)
    const index = SearchIndex.openExisting(state.env.CONTID_INDEX_DIR)!;
    const attribution = { trust: TrustStore.load(configFromEnv(state.env).trustDir) };
    const viaIndex = searchLogs({ files: [copy], filter: { container: A }, attribution, index, onEvent: () => undefined, rawOut: () => undefined });
    const stamps = new Set<string>();
    const scanned = searchLogs({ files: [copy], filter: { container: A }, attribution, onEvent: (e) => stamps.add(`${e.time}:${e.serial}`) });
    index.close();
    expect([viaIndex.lines, scanned.lines > 0, [...stamps].sort()]).toEqual([0, true, keys(cold.stdout)]);
    // a stale entry (the file grew) is ignored, results stay right
    appendFileSync(copy, 'type=USER msg=audit(1.000:1): pid=1 uid=0 auid=0 ses=1 msg=\'x\'\n');
    expect(contid(['search', '-if', copy, '-c', A], { env: state.env, maxBuffer: 64 << 20 }).stdout).toBe(cold.stdout);
  });

  it('an unprivileged user who fills the temp directory does not cost an indexed search its answer (the spool gives way to reading twice)', () => {
    const copy = join(state.dir, 'indexed-full-tmp.log');
    writeFileSync(copy, readFileSync(log));
    const cold = contid(['search', '-if', copy, '-c', A, '--no-index'], { env: state.env, maxBuffer: 64 << 20 });
    expect(contid(['index', '-i', copy], { env: state.env }).status).toBe(0);
    // a temp file system with no room left, as a user's dd into a shared /tmp leaves it
    const full = mkdtempSync(join(tmpdir(), 'contid-full-tmp-'));
    expect(run('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=1777', 'tmpfs', full]).status).toBe(0);
    try {
      expect(run('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'sh', '-c', `dd if=/dev/zero of=${full}/fill bs=4k 2>/dev/null; true`]).status).toBe(0);
      expect(run('sh', ['-c', `printf x >> ${full}/probe`]).status).not.toBe(0);
      const indexed = contid(['search', '-if', copy, '-c', A], { env: { ...state.env, TMPDIR: full }, maxBuffer: 64 << 20 });
      expect({ status: indexed.status, stderr: indexed.stderr }).toEqual({ status: 0, stderr: cold.stderr });
      expect(indexed.stdout).toBe(cold.stdout);
      expect(indexed.stdout.length).toBeGreaterThan(0);
    } finally {
      run('umount', [full]);
      rmSync(full, { recursive: true, force: true });
    }
  });

  it('a progress bar is drawn on stderr when it is a TTY (script(1) gives a pty), never otherwise', () => {
    const cmd = `${process.execPath} ${CONTID_MAIN} search -if ${log} -c ${A} > /dev/null`;
    const tty = run('script', ['-qec', cmd, '/dev/null'], { env: state.env });
    expect(tty.status).toBe(0);
    expect(tty.stdout).toMatch(/\r\[#{30}\] 100%/);
    expect(tty.stdout).toContain('\r\x1b[K');
    expect(search(['-c', A]).stderr).not.toContain('\r');
  });

  it("ausearch's command line: -i equals ausearch -i; no match, empty, non-audit and gzip input as ausearch (exit 1, <no matches>)", () => {
    // the unattributed events of the frozen log, interpreted by both (contid adds container= to ---- lines it attributes)
    const mine = search(['-m', 'EXECVE', '-sv', 'yes', '-i', '--no-index']);
    const theirs = spawnSync('ausearch', ['-if', log, '-m', 'EXECVE', '-sv', 'yes', '-i'], { encoding: 'latin1', maxBuffer: 256 << 20 });
    expect(mine.status).toBe(0);
    // ausearch passes a byte of a cut UTF-8 character (a proctitle truncated by the kernel) through; contid writes \ooo
    const asContid = theirs.stdout.split('\n').map((l) => bytesToText(l, { escapeControls: true })).join('\n');
    expect(mine.stdout.replace(/^---- container=.*$/gm, '----')).toBe(asContid);
    expect(search(['-ts', 'today', '-k', 'no-such-key-anywhere'])).toMatchObject({ status: 1, stdout: '', stderr: expect.stringContaining('<no matches>\n') });
    expect(search(['-r', '-k', 'no-such-key-anywhere'])).toMatchObject({ status: 1, stdout: '' });
    const empty = join(state.dir, 'empty.log');
    writeFileSync(empty, '');
    expect(contid(['search', '-if', empty], { env: state.env })).toMatchObject({ status: 1, stdout: '', stderr: 'contid: no audit records: the input is empty\n' });
    const text = join(state.dir, 'notes.txt');
    writeFileSync(text, 'hello\nworld\n');
    expect(contid(['search', '-if', text], { env: state.env })).toMatchObject({ status: 1, stderr: 'contid: not an audit log: none of its 2 lines is an audit record\n' });
    const gz = join(state.dir, 'audit.log.1.gz');
    writeFileSync(gz, gzipSync(readFileSync(log)));
    expect(contid(['search', '-if', gz, '-c', A, '--no-index'], { env: state.env, maxBuffer: 64 << 20 }).stdout).toBe(search(['-c', A]).stdout);
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    expect(contid(['search', '-if', gz], { env: state.env })).toMatchObject({ status: 1, stderr: expect.stringMatching(/^contid: cannot read .*: not a valid gzip file .*\n$/) });
  });

  it("--format text and csv equal ausearch's (libauparse's normalizer); contid adds the container to attributed lines", () => {
    const filter = ['-m', 'EXECVE', '-sv', 'yes'];
    const asText = (latin1: string): string => latin1.split('\n').map((l) => bytesToText(l, { escapeControls: true })).join('\n');
    for (const format of ['text', 'csv']) {
      const mine = search([...filter, '--format', format, '--no-index']);
      const theirs = spawnSync('ausearch', ['-if', log, ...filter, '--format', format], { encoding: 'latin1', maxBuffer: 256 << 20 });
      expect([format, mine.status]).toEqual([format, 0]);
      // contid's only differences (csv-injection.test.ts): csv cells quoted or guarded, its own words escaped in text
      const undone = (line: string): string =>
        format === 'csv' ? (line.includes('"') ? readCsvLine(line).map(unguarded).join(',') : line) : line.replace(/ (container|contid|orchestrator)\\075/g, ' $1=');
      expect(mine.stdout.replace(/ container=\S+ contid=\S+ orchestrator=\S+$/gm, '').split('\n').map(undone).join('\n')).toBe(asText(theirs.stdout));
    }
    expect(search(['-c', B, '--format', 'text']).stdout).toMatch(new RegExp(` successfully executed /usr/bin/id +container=${B} contid=${contidOf[B]} orchestrator=contid$`, 'm'));
    const csv = search(['-c', B, '--format', 'csv', '--extra-keys', '--extra-container']).stdout.split('\n');
    expect(csv[0]).toMatch(/,HOW,KEY,CONTAINER,CONTID,ORCHESTRATOR$/);
    expect(csv.slice(1, -1).every((row) => row.endsWith(`,${B},${contidOf[B]},contid`))).toBe(true);
    expect(search(['-c', B, '--format', 'text', '--extra-keys'])).toMatchObject({ status: 2, stderr: 'contid: --extra options require --format csv (as ausearch)\n' });
    expect(search(['--format', 'csv', '-k', 'no-such-key-anywhere'])).toMatchObject({ status: 1, stdout: '', stderr: expect.stringContaining('<no matches>\n') });
  });

  it('a missing input is one clear line and exit 2', () => {
    expect(contid(['search', '-if', '/nonexistent/audit.log'], { env: state.env })).toMatchObject({ status: 2, stderr: 'contid: no such log file or directory: /nonexistent/audit.log\n' });
  });
});
