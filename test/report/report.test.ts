import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, formatContainerId } from '@contid/core';
import { freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { CONTID_MAIN, contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

interface ReportJson {
  group: string;
  container: { contid: string; name: string };
  events: number;
  executables: { exe: string; count: number; execs: number; auids: string[] }[];
  files: { path: string; count: number }[];
  network: { call: string; address: string; count: number; failed: number }[];
  failures: { errno: string; count: number }[];
  anomalies: { type: string; count: number }[];
  entries: { op: string; auid: string | null; session: number | null }[];
}

/** ausearch ARGS --raw over one frozen log, for each session; lines of all of them. */
function ausearchRaw(log: string, sessions: number[], args: string[] = []): string {
  return sessions.map((s) => spawnSync('ausearch', ['--session', String(s), ...args, '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout).join('');
}

/**
 * `aureport ARGS --summary` over raw records: the table as { name → total }. The records go
 * through a file: aureport reads its stdin only when that is a pipe, and Node hands a child a
 * socket, so with stdin aureport would read the host's whole log instead.
 */
function aureportSummary(raw: string, args: string[]): Map<string, number> {
  const dir = mkdtempSync(join(tmpdir(), 'contid-aureport-'));
  writeFileSync(join(dir, 'in.log'), raw);
  const r = spawnSync('aureport', [...args, '--summary', '-if', join(dir, 'in.log')], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  const out = new Map<string, number>();
  for (const m of r.stdout.matchAll(/^(\d+)  (.+)$/gm)) out.set(m[2], Number(m[1]));
  return out;
}

/** Events of raw ausearch output, by their audit(TIME:SERIAL) key. */
function eventsOf(raw: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of raw.split('\n')) {
    const k = /audit\(([0-9.]+:\d+)\)/.exec(line)?.[1];
    if (k) out.set(k, [...(out.get(k) ?? []), line]);
  }
  return out;
}

const errnoByNumber = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/**
 * Real kernel, real auditd: a container made by `contid exec` runs known programs, writes and
 * changes files, connects to 127.0.0.1 (once refused), fails syscalls and crashes a shell;
 * rules scoped to its session (`-F sessionid=`) record that. Every count of `contid report`
 * is then checked against ausearch (and aureport over ausearch's events) on the same log.
 */
describe('contid report on real audit events (ausearch/aureport oracle)', () => {
  const state = tempStateDir('report');
  const log = join(state.dir, 'audit.log');
  const work = join(state.dir, 'work');
  const name = uniqueName('rpt');
  const key = uniqueName('contid-rpt');
  const marker = `marker-${name}`;
  let sessions: number[] = [];
  let session = 0;
  let contidText = '';

  const report = (args: string[]): ReturnType<typeof contid> => contid(['report', '-if', log, ...args], { env: state.env, maxBuffer: 64 << 20 });
  const reportJson = (args: string[] = []): ReportJson[] => {
    const r = report(['-c', name, '--json', ...args]);
    // bindings of other tests running at the same time may be in the log: rejected, said so
    expect([r.status, r.stderr.replace(/^contid: rejected \d+ binding record.*\n/m, '')]).toEqual([0, '']);
    return JSON.parse(r.stdout) as ReportJson[];
  };

  beforeAll(async () => {
    mkdirSync(work);
    const fifo = join(state.dir, 'go');
    const sesFile = join(state.dir, 'ses');
    expect(run('mkfifo', [fifo]).status).toBe(0);
    const py = [
      'import socket',
      "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(1)",
      'c=socket.create_connection(s.getsockname()); a,_=s.accept(); a.close(); c.close(); s.close()',
      "d=socket.socket(); d.bind(('127.0.0.1',0)); p=d.getsockname()[1]; d.close()",
      'try:',
      "  socket.create_connection(('127.0.0.1',p))",
      'except OSError:',
      '  pass',
      // a unix socket too (a failed connect: no such path), as glibc's own try of nscd's is
      'u=socket.socket(socket.AF_UNIX)',
      'try:',
      `  u.connect('${work}/no-such.sock')`,
      'except OSError:',
      '  pass',
    ].join('\n');
    writeFileSync(join(state.dir, 'net.py'), py);
    const actions = [
      `echo one > ${work}/a`,
      `echo two >> ${work}/a`,
      `chmod 600 ${work}/a`,
      `mkdir ${work}/d`,
      `mv ${work}/a ${work}/d/b`,
      `rm ${work}/d/b`,
      'ls / >/dev/null',
      'cat /etc/hostname >/dev/null',
      `cat /nonexistent-${name} 2>/dev/null`,
      `python3 -B ${state.dir}/net.py`,
      "sh -c 'kill -SEGV $$' 2>/dev/null",
      `/bin/true ${marker}`,
    ].join('; ');
    const mark = logMark();
    // the container waits on a FIFO until rules scoped to its session are in place
    const child = spawn(process.execPath, [CONTID_MAIN, 'exec', '--name', name, '--', 'sh', '-c', `cat /proc/self/sessionid > ${sesFile}; read x < ${fifo}; ${actions}; true`], { env: state.env, stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    session = await waitFor('the container\'s session', () => {
      try {
        return Number(readFileSync(sesFile, 'utf8').trim()) || null;
      } catch {
        return null;
      }
    });
    const rules = [
      ['-F', `dir=${work}`, '-F', 'perm=wa', '-F', `sessionid=${session}`, '-k', `${key}-files`],
      ['-S', 'execve', '-F', `sessionid=${session}`, '-k', `${key}-exec`],
      ['-S', 'connect,bind,accept,accept4', '-F', `sessionid=${session}`, '-k', `${key}-net`],
      ['-S', 'openat', '-F', 'success=0', '-F', `sessionid=${session}`, '-k', `${key}-fail`],
    ].map((r) => ['always,exit', '-F', 'arch=b64', ...r]);
    try {
      for (const r of rules) expect(run('auditctl', ['-a', ...r])).toMatchObject({ status: 0 });
      // an entry by a second process while it runs (op=setns: a new session, the same container)
      expect(contid(['exec', '--setns', name, '--', 'true'], { env: state.env })).toMatchObject({ status: 0, stderr: '' });
      writeFileSync(fifo, 'go\n');
      await exited;
      await waitForAudit(['--session', String(session), '-m', 'EXECVE'], (l) => l.some((x) => x.includes(Buffer.from(marker).toString('hex').toUpperCase()) || x.includes(marker)));
    } finally {
      for (const r of rules) spawnSync('auditctl', ['-d', ...r]);
    }
    const reg = Registry.open(state.env.CONTID_STATE_DIR!, { readonly: true });
    const c = reg.find(name)!;
    contidText = formatContainerId(c.contid);
    sessions = reg.bindings(c.contid).map((b) => b.session!).filter((s) => s !== null);
    reg.close();
    freezeSince(mark, log);
  }, 120_000);
  afterAll(() => (process.env.CONTID_KEEP_TEST_STATE ? process.stderr.write(`kept ${state.dir}\n`) : state.cleanup()));

  it('counts the events ausearch --session returns for the container\'s sessions', () => {
    expect(sessions).toContain(session);
    expect(sessions.length).toBe(2); // create and setns
    const [g] = reportJson();
    expect(g.container).toMatchObject({ contid: contidText, name });
    // ausearch's own event count (its `----` separators): a LOGIN is an event apart from the
    // SYSCALL of the same audit(TIME:SERIAL), so keys alone would undercount
    const separators = sessions.map((s) => spawnSync('ausearch', ['--session', String(s), '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.match(/^----$/gm)?.length ?? 0);
    expect(g.events).toBe(separators.reduce((a, b) => a + b, 0));
  });

  it('executables: equal to ausearch --session S | aureport -x --summary', () => {
    const [g] = reportJson();
    const expected = aureportSummary(ausearchRaw(log, sessions), ['-x']);
    expect(new Map(g.executables.map((r) => [r.exe, r.count]))).toEqual(expected);
    for (const exe of ['/usr/bin/ls', '/usr/bin/cat', '/usr/bin/true']) expect(g.executables.find((r) => r.exe === exe)?.execs).toBeGreaterThan(0);
    expect([...expected.keys()].some((e) => /python3/.test(e))).toBe(true);
  });

  it('files written or changed: equal to aureport -f --summary over the events of a -F perm=wa rule and the failed opens for writing', () => {
    const [g] = reportJson();
    // the failed-openat rule also caught opens for writing outside the watched directory
    // (/dev/tty without a terminal): ausearch -i names their flags
    const failed = eventsOf(ausearchRaw(log, sessions, ['-k', `${key}-fail`]));
    const interpreted = sessions.map((s) => spawnSync('ausearch', ['--session', String(s), '-k', `${key}-fail`, '-i', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout).join('');
    const writeOpens = new Set([...interpreted.matchAll(/^type=SYSCALL msg=audit\([^)]*:(\d+)\) : .* syscall=openat .*a2=[A-Z_|]*O_(?:WRONLY|RDWR)/gm)].map((m) => m[1]));
    const writeOpenRaw = [...failed].filter(([k]) => writeOpens.has(k.split(':')[1])).flatMap(([, lines]) => lines);
    const expected = aureportSummary(ausearchRaw(log, sessions, ['-k', `${key}-files`]) + writeOpenRaw.map((l) => `${l}\n`).join(''), ['-f']);
    expect(expected.size).toBeGreaterThan(2);
    expect(new Map(g.files.map((r) => [r.path, r.count]))).toEqual(expected);
    expect(g.files.map((r) => r.path)).toEqual(expect.arrayContaining([`${work}/a`, `${work}/d/b`]));
  });

  it('network: each socket call as often as ausearch -sc finds it, with the addresses ausearch -i shows', () => {
    const [g] = reportJson();
    for (const call of ['connect', 'bind', 'accept', 'accept4']) {
      const theirs = eventsOf(ausearchRaw(log, sessions, ['-sc', call]));
      const mine = g.network.filter((r) => r.call === call);
      expect([call, mine.reduce((n, r) => n + r.count, 0)]).toEqual([call, theirs.size]);
      const interpreted = sessions.map((s) => spawnSync('ausearch', ['--session', String(s), '-sc', call, '-i', '-if', log], { encoding: 'utf8' }).stdout).join('');
      // every family ausearch -i names: the workload's own inet calls, and whatever a unix
      // socket the C library tries on its own (nscd's, where the host has one)
      const addresses = new Set([
        ...[...interpreted.matchAll(/saddr=\{ saddr_fam=inet laddr=([0-9.]+) lport=(\d+) \}/g)].map((m) => `${m[1]}:${m[2]}`),
        ...[...interpreted.matchAll(/saddr=\{ saddr_fam=local path=(\S+) \}/g)].map((m) => `unix:${m[1]}`),
      ]);
      expect(new Set(mine.map((r) => r.address))).toEqual(addresses);
    }
    const connects = g.network.filter((r) => r.call === 'connect' && r.address.startsWith('127.0.0.1:'));
    expect(connects.reduce((n, r) => n + r.count, 0)).toBe(2);
    expect(connects.reduce((n, r) => n + r.failed, 0)).toBe(1);
    expect(g.network.find((r) => r.call === 'connect' && r.address === `unix:${work}/no-such.sock`)).toMatchObject({ count: 1, failed: 1 });
  });

  it('failed syscalls by errno: equal to ausearch --success no, counted by exit code', () => {
    const [g] = reportJson();
    const expected = new Map<string, number>();
    for (const lines of eventsOf(ausearchRaw(log, sessions, ['--success', 'no'])).values()) {
      const exit = Number(/ exit=(-?\d+)/.exec(lines.find((l) => l.startsWith('type=SYSCALL'))!)![1]);
      const errno = errnoByNumber.get(-exit) ?? String(exit);
      expected.set(errno, (expected.get(errno) ?? 0) + 1);
    }
    expect(new Map(g.failures.map((r) => [r.errno, r.count]))).toEqual(expected);
    expect(expected.get('ENOENT')).toBeGreaterThan(0);
    expect(expected.get('ECONNREFUSED')).toBe(1);
  });

  it('anomalies: the crashed shell\'s ANOM_ABEND, as ausearch -m ANOM_ABEND and aureport -n find it', () => {
    const [g] = reportJson();
    const raw = ausearchRaw(log, sessions, ['-m', 'ANOM_ABEND']);
    expect(eventsOf(raw).size).toBeGreaterThan(0);
    expect(g.anomalies).toEqual([expect.objectContaining({ type: 'ANOM_ABEND', count: eventsOf(raw).size })]);
    // aureport's summary names the type by number (1701 is ANOM_ABEND)
    expect(aureportSummary(raw, ['-n'])).toEqual(new Map([['1701', eventsOf(raw).size]]));
  });

  it('entries: the create and the setns, with the login user ausearch shows on their binding records', () => {
    const [g] = reportJson();
    const bindings = spawnSync('ausearch', ['-m', 'VIRT_CONTROL', '--vm-name', name, '--raw', '-if', log], { encoding: 'utf8' }).stdout.split('\n').filter((l) => / op=(create|setns) /.test(l));
    expect(bindings).toHaveLength(2);
    expect(g.entries.map((e) => [e.op, e.auid, e.session])).toEqual(bindings.map((l) => [/ op=(\w+)/.exec(l)![1], / auid=(\d+)/.exec(l)![1], Number(/ vm-ses=(\d+)/.exec(l)![1])]));
  });

  it('text tables, --summary, -i, grouping by orchestrator; an unknown container is an error, no matching event reports zeros', () => {
    const text = report(['-c', name]).stdout;
    expect(text).toMatch(new RegExp(`^Container Report: ${name}\\n=+\\ncontid: +${contidText}\\n`));
    for (const t of ['Executable', 'File Written or Changed', 'Network', 'Failed Syscall', 'Anomaly']) expect(text).toContain(`${t} Summary Report\n`);
    expect(text).toMatch(/^\d+ .* \/usr\/bin\/ls$/m);
    const summary = report(['-c', name, '--summary']).stdout;
    expect(summary).toContain(`Number of events: ${reportJson()[0].events}`);
    expect(summary).not.toContain('Executable Summary Report');
    expect(report(['-c', name, '--interpret']).stdout).toMatch(/ root +root +\/usr\/bin\/ls$/m);
    expect(report(['-c', name, '-i']).stdout).toBe(report(['-c', name, '--interpret']).stdout); // aureport's -i
    const byOrch = JSON.parse(report(['--orchestrator', 'contid', '--by', 'orchestrator', '--json']).stdout) as ReportJson[];
    expect(byOrch.map((g) => g.group)).toEqual(['contid']);
    expect(byOrch[0].events).toBeGreaterThanOrEqual(reportJson()[0].events);
    // a container nobody bound is an error; a known one with no matching event reports zeros
    const unknown = report(['-c', 'no-such-container-anywhere']);
    expect([unknown.status, unknown.stdout, unknown.stderr.split('\n').filter(Boolean).length]).toEqual([1, '', 1]);
    expect(report(['-c', name, '--uid', '4242'])).toMatchObject({ status: 0, stdout: expect.stringContaining('Number of events: 0\n') });
    expect(report(['-c', name, '--by', 'planet'])).toMatchObject({ status: 2 });
    expect(report(['-c', name, '--by', 'planet']).stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('the index gives the same report as a scan', () => {
    const scanned = report(['-c', name, '--json', '--no-index']).stdout;
    expect(contid(['index', '-i', log], { env: { ...state.env, CONTID_INDEX_DIR: join(state.dir, 'index') } }).status).toBe(0);
    const indexed = contid(['report', '-if', log, '-c', name, '--json'], { env: { ...state.env, CONTID_INDEX_DIR: join(state.dir, 'index') } }).stdout;
    expect(indexed).toBe(scanned);
  });

  it('progress on a terminal (script(1) gives a pty) for report and index; silent with --quiet or without a terminal', () => {
    const onPty = (args: string): string => run('script', ['-qec', `${process.execPath} ${CONTID_MAIN} ${args} > /dev/null`, '/dev/null'], { env: { ...state.env, CONTID_INDEX_DIR: join(state.dir, 'index-pty') } }).stdout;
    const shown = onPty(`report -if ${log} -c ${name} --no-index`);
    expect(shown).toMatch(/\r\[#{30}\] 100% +[\d.]+\/[\d.]+ MB +[\d,]+ matched/);
    expect(shown).toContain('\r\x1b[K');
    expect(onPty(`index -i ${log}`)).toMatch(/\r\[#{30}\] 100% +[\d.]+\/[\d.]+ MB/);
    expect(onPty(`report -if ${log} -c ${name} --quiet`)).not.toContain('\r[');
    expect(report(['-c', name]).stderr).not.toContain('\r');
  });
});

test('nothing to report (an empty file, text that is no audit log): <no matches> and exit 1 in every format, as search and ausearch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-report-empty-'));
  try {
    const empty = join(dir, 'empty.log');
    const text = join(dir, 'text.log');
    writeFileSync(empty, '');
    writeFileSync(text, 'hello\nnot an audit record\n');
    for (const input of [empty, text]) {
      for (const format of [[], ['--json']]) {
        const r = contid(['report', '--input', input, ...format], { env: { ...process.env, CONTID_STATE_DIR: join(dir, 'state') } });
        expect([r.status, r.stderr.trim().split('\n').pop(), r.stdout]).toEqual([1, '<no matches>', format.length ? '[]\n' : '']);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
