import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { CONTID_MAIN, tempStateDir } from '../helpers/cli';

/**
 * `contid search` leaves with process.exit() once its handler is done (5cd7956). Its answer is
 * written with writeSync, but its stderr lines (csv's `error normalizing TYPE` for each event
 * libauparse cannot normalize, skipped lines, untrusted bindings, untagged entries) go through
 * process.stderr, which Node writes asynchronously to a pipe that is full: what the reader had
 * not taken yet must still reach it, as it did when Node drained its writes before exiting.
 */
describe('contid search leaves only once stderr is written', () => {
  const state = tempStateDir('exit-stdio');
  afterAll(() => state.cleanup());
  const fixture = resolve(__dirname, '../../packages/audit/test/fixtures/golden-local-nodes.log');
  const log = join(state.dir, 'nodes.log');
  // 413 `error normalizing` lines a copy: 16 copies are ~140 KB of stderr, more than a pipe holds
  beforeAll(() => writeFileSync(log, readFileSync(fixture).toString('latin1').repeat(16), 'latin1'));
  const args = ['search', '--no-index', '--format', 'csv', '-if', log];

  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('a stderr pipe whose reader waits gets every line (csv normalizer errors)', async () => {
    const reference = spawnSync(process.execPath, [CONTID_MAIN, ...args], { encoding: 'latin1', maxBuffer: 64 << 20, env: state.env });
    expect(reference.status).toBe(0);
    expect(reference.stderr.length).toBeGreaterThan(130_000);
    const outFile = join(state.dir, 'out');
    const errFile = join(state.dir, 'err');
    const statusFile = join(state.dir, 'status');
    const gate = join(state.dir, 'gate');
    expect(spawnSync('mkfifo', [gate]).status).toBe(0);
    // the reader takes nothing until the gate opens; the status file says when contid exited
    const quoted = [process.execPath, CONTID_MAIN, ...args].map((a) => `'${a}'`).join(' ');
    const sh = spawn('sh', ['-c', `{ ${quoted} 2>&1 >'${outFile}'; echo $? >'${statusFile}'; } | { read x <'${gate}'; cat; } >'${errFile}'`], { stdio: 'ignore', env: state.env });
    const shDone = new Promise<number | null>((r) => sh.on('exit', (code) => r(code)));
    // wait until its whole answer is out, then give it time to leave if it is going to
    const deadline = Date.now() + 60_000;
    while (!(existsSync(outFile) && statSync(outFile).size === Buffer.byteLength(reference.stdout, 'latin1')) && Date.now() < deadline) await sleep(50);
    for (let i = 0; i < 30 && !existsSync(statusFile); i++) await sleep(50);
    writeFileSync(gate, 'go\n');
    expect(await shDone).toBe(0);
    expect(readFileSync(statusFile, 'utf8').trim()).toBe('0');
    const err = readFileSync(errFile, 'latin1');
    expect(err.length).toBe(reference.stderr.length);
    expect(err).toBe(reference.stderr);
  });

  it('a full stdout pipe shared with stderr is waited for, not retried in a loop', () => {
    // 2>&1: Node makes the pipe non-blocking when it makes process.stderr (the first csv
    // normalizer error), so the answer's writeSync meets EAGAIN while the reader sleeps
    const trace = join(state.dir, 'trace');
    const quoted = ['strace', '-f', '-e', 'trace=write', '-o', trace, process.execPath, CONTID_MAIN, ...args].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('sh', ['-c', `${quoted} 2>&1 | { sleep 3; wc -c; }`], { env: state.env, encoding: 'latin1', timeout: 60_000 });
    expect(r.status).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(500_000);
    const refused = readFileSync(trace, 'latin1').split('\n').filter((l) => l.includes('EAGAIN')).length;
    // waiting (poll) refuses a write each time the pipe fills; a retry loop, hundreds of thousands in 3 s
    expect(refused).toBeLessThan(1000);
  });

  it('a reader that stops early leaves no copy of the input behind (gzip, stdin)', () => {
    const tmp = join(state.dir, 'tmp');
    mkdirSync(tmp);
    const gz = join(state.dir, 'nodes.log.gz');
    writeFileSync(gz, gzipSync(readFileSync(log)));
    const env = { ...state.env, TMPDIR: tmp };
    const main = `'${process.execPath}' '${CONTID_MAIN}' search --no-index`;
    // the reader goes after one line: the next write meets EPIPE, and contid leaves quietly
    for (const pipeline of [`${main} '${gz}' | head -1`, `cat '${log}' | ${main} - | head -1`, `${main} -i '${gz}' | head -1`]) {
      const r = spawnSync('sh', ['-c', pipeline], { env, encoding: 'latin1', timeout: 60_000 });
      expect([pipeline, r.status, /^(node=\S+ )?type=|^----/.test(r.stdout), r.stderr]).toEqual([pipeline, 0, true, '']);
      expect([pipeline, readdirSync(tmp)]).toEqual([pipeline, []]);
    }
  });

  // Ctrl-C, a service manager's SIGTERM, a closed terminal's SIGHUP: signals skip the 'exit'
  // listener above, so each left /tmp/contid-search-*/ or /tmp/contid-gunzip-*/ with the whole
  // input (review34). The copy's name is now gone as soon as it is open (private-copy.ts), and
  // the process still ends by the signal (a shell's $? 128+signo; Ctrl-C not deferred).
  it('a signal leaves no copy of the input behind and ends the process by that signal', async () => {
    const tmp = join(state.dir, 'tmp-signals');
    const gz = join(state.dir, 'nodes-signals.log.gz');
    writeFileSync(gz, gzipSync(Buffer.concat([readFileSync(log), readFileSync(log), readFileSync(log), readFileSync(log)])));
    const env = { ...state.env, TMPDIR: tmp };
    /** Whether the process has a file open under tmp: its copy exists (named or not). */
    const holdsCopy = (pid: number): boolean => {
      try {
        return readdirSync(`/proc/${pid}/fd`).some((fd) => {
          try {
            return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(tmp);
          } catch {
            return false;
          }
        });
      } catch {
        return false;
      }
    };
    const cases: [NodeJS.Signals, string, string[]][] = [
      ['SIGINT', 'stdin held open', ['-']],
      ['SIGTERM', 'stdin held open', ['-']],
      ['SIGHUP', 'stdin held open', ['-']],
      ['SIGINT', 'a gzip file', [gz]],
      ['SIGTERM', 'a gzip file, interpreted', ['-i', gz]],
    ];
    for (const [signal, what, inputs] of cases) {
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      const child = spawn(process.execPath, [CONTID_MAIN, 'search', '--no-index', ...inputs], { env, stdio: ['pipe', 'ignore', 'ignore'] });
      const ended = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.on('exit', (code, sig) => r([code, sig])));
      child.stdin.on('error', () => undefined); // EPIPE: what was not read when it ended
      if (inputs[0] === '-') child.stdin.write(readFileSync(log)); // and never ended: the spool is under way
      else child.stdin.end();
      const deadline = Date.now() + 30_000;
      while (!holdsCopy(child.pid!) && Date.now() < deadline) await sleep(5);
      expect([signal, what, holdsCopy(child.pid!)]).toEqual([signal, what, true]);
      child.kill(signal);
      // before: the directory and its copy stayed (exit by the signal all the same)
      expect([signal, what, await ended, readdirSync(tmp)]).toEqual([signal, what, [null, signal], []]);
      child.stdin.destroy();
    }
  });

  it('a corrupt gzip on stdin is named stdin, not the temporary copy it was read from', () => {
    // before: 'cannot read /tmp/contid-search-…/stdin.log: …' (a name gone by the time it is read)
    const r = spawnSync(process.execPath, [CONTID_MAIN, 'search', '-'], { env: state.env, input: Buffer.from([0x1f, 0x8b, 1, 2, 3]), encoding: 'latin1' });
    expect([r.status, r.stdout, r.stderr]).toEqual([1, '', expect.stringMatching(/^contid: cannot read stdin: not a valid gzip file \(.*\)\n$/)]);
  });

  it('an answer the disk refuses is one line naming the output, exit 1', () => {
    for (const format of ['raw', 'json', 'interpret']) {
      const r = spawnSync('sh', ['-c', `'${process.execPath}' '${CONTID_MAIN}' search --no-index --format ${format} '${log}' >/dev/full`], { env: state.env, encoding: 'latin1' });
      expect([format, r.status, r.stderr]).toEqual([format, 1, 'contid: cannot write the output: ENOSPC\n']);
    }
  });

  // /dev/full refuses every byte; a disk that fills takes part of a buffer first (1 MB written at
  // once), and the answer in the file ended in half a record: a JSON or ECS document that does
  // not parse, a raw record cut in a field (`exit=3` of `exit=-32`), read as whole by whoever
  // ingests the file without looking at the exit status (review34). The file now ends with its
  // last whole line.
  it('an answer a filling disk takes part of leaves whole lines only (real tmpfs), exit 1', () => {
    const mnt = join(state.dir, 'small-disk');
    mkdirSync(mnt);
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'contid-exit-stdio', mnt]).status).toBe(0);
    try {
      const out = join(mnt, 'answer');
      for (const [format, redirect] of [['json', '>'], ['ecs', '>'], ['raw', '>'], ['interpret', '>'], ['json', '>>']]) {
        rmSync(out, { force: true });
        if (redirect === '>>') writeFileSync(out, '{"before":1}\n');
        const r = spawnSync('sh', ['-c', `'${process.execPath}' '${CONTID_MAIN}' search --no-index --format ${format} '${log}' ${redirect}'${out}'`], { env: state.env, encoding: 'latin1' });
        const text = readFileSync(out, 'latin1');
        // before: the last line cut where the disk filled
        expect([format, redirect, r.status, r.stderr, text.length > 200_000, text.endsWith('\n')]).toEqual([format, redirect, 1, 'contid: cannot write the output: ENOSPC\n', true, true]);
        const lines = text.slice(0, -1).split('\n');
        if (format === 'json' || format === 'ecs') expect(lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } })).toEqual([]);
        if (format === 'raw') expect(lines.filter((l) => !/^node=\S+ type=\S+ msg=audit\(\d+\.\d+:\d+\): .*[^ ]$/.test(l))).toEqual([]);
      }
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('a stderr write that fails (a full disk) is not an exit 0', () => {
    const ok = spawnSync(process.execPath, [CONTID_MAIN, ...args], { encoding: 'latin1', maxBuffer: 64 << 20, env: state.env });
    expect([ok.status, ok.stderr.length > 0]).toEqual([0, true]);
    // before 5cd7956: the stream's ENOSPC became 'contid: cannot write …' and exit 1
    const r = spawnSync('sh', ['-c', `'${process.execPath}' '${CONTID_MAIN}' ${args.map((a) => `'${a}'`).join(' ')} >/dev/null 2>/dev/full`], { env: state.env, encoding: 'latin1' });
    expect(r.status).not.toBe(0);
  });
});
