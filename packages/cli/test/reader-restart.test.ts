import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/*
 * `contid search -i` on an input of 32 MB or more starts itself again (execve: same pid, same
 * stdio) with a larger young generation for the reading thread (readerRestartFlags in
 * interpret-pipe.ts). Runs the built CLI as a user does and looks at the process from outside:
 * its command line while it runs, its output, its exit status and stderr.
 */
const MAIN = resolve(__dirname, '../dist/main.js');
const FLAG = '--min-semi-space-size=16';

describe('search -i on a big input runs with the reading thread’s young generation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-reader-restart-'));
  const big = join(dir, 'big.log');
  const env: NodeJS.ProcessEnv = { ...process.env, CONTID_STATE_DIR: join(dir, 'state'), CONTID_INDEX_DIR: join(dir, 'index'), TZ: 'UTC', LC_ALL: 'C.UTF-8' };
  delete env.NODE_OPTIONS;

  beforeAll(() => {
    // just over 32 MB of kernel events (three records each, serials and times rising)
    const parts: string[] = [];
    let size = 0;
    for (let i = 0; size < (32 << 20) + 4096; i++) {
      const stamp = `${1795000000 + Math.floor(i / 1000)}.${String(i % 1000).padStart(3, '0')}:${1000 + i}`;
      const event =
        `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7ffd${(i % 4096).toString(16)} a2=0 a3=0 items=1 ppid=1 pid=${2000 + (i % 500)} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${1 + (i % 7)} comm="cat" exe="/usr/bin/cat" key=(null)\n` +
        `type=PATH msg=audit(${stamp}): item=0 name="/etc/f${i % 300}" inode=${100 + (i % 300)} dev=fe:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n` +
        `type=PROCTITLE msg=audit(${stamp}): proctitle=636174002F6574632F66${(48 + (i % 10)).toString(16)}\n`;
      parts.push(event);
      size += event.length;
    }
    writeFileSync(big, parts.join(''));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs contid with `args`; `cmdline`: the process's command line once it holds FLAG (or when it ended without). */
  function runWatched(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: Buffer; stderr: string; cmdline: string }> {
    return new Promise((done, fail) => {
      const child = spawn(process.execPath, [MAIN, ...args], { env: { ...env, ...extraEnv } });
      const out: Buffer[] = [];
      let err = '';
      let cmdline = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // stdout is not read until the command line is seen: a full pipe holds the process there
      const look = (): void => {
        try {
          cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').split('\0').join(' ');
        } catch {
          cmdline = '';
        }
        if (cmdline.includes(FLAG) || child.exitCode !== null || Date.now() > deadline) child.stdout.on('data', (d: Buffer) => out.push(d));
        else setTimeout(look, 20);
      };
      const deadline = Date.now() + 20_000;
      setTimeout(look, 20);
      child.on('error', fail);
      child.on('close', (status) => done({ status, stdout: Buffer.concat(out), stderr: err, cmdline }));
    });
  }

  it('started again with the flag, pid kept; the same bytes as a run without the restart', async () => {
    const restarted = await runWatched(['search', '-if', big, '--no-index', '-i']);
    expect(restarted.status).toBe(0);
    expect(restarted.cmdline).toContain(FLAG);
    expect(restarted.cmdline).toContain(`${MAIN} search -if ${big} --no-index -i`);
    expect(restarted.stderr).toBe('');
    // a semi-space flag of the user's (here in NODE_OPTIONS) leaves the process as it started
    const asStarted = await runWatched(['search', '-if', big, '--no-index', '-i'], { NODE_OPTIONS: '--max-semi-space-size=8' });
    expect(asStarted.status).toBe(0);
    expect(asStarted.cmdline).not.toContain(FLAG);
    expect(restarted.stdout.length).toBeGreaterThan(32 << 20);
    expect(restarted.stdout.equals(asStarted.stdout)).toBe(true);
  }, 180_000);

  it('no match: exit 1 and <no matches> once, as without the restart', async () => {
    const r = await runWatched(['search', '-if', big, '--no-index', '-i', '-m', 'USER_LOGIN']);
    expect(r.cmdline).toContain(FLAG);
    expect(r.status).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toBe('<no matches>\n');
  }, 120_000);

  it('a small input is not restarted', () => {
    const small = join(dir, 'small.log');
    writeFileSync(small, readFileSync(big).subarray(0, 1 << 20).toString('latin1').replace(/[^\n]*$/, ''), 'latin1');
    const probe = join(dir, 'argv.js');
    writeFileSync(probe, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(join(dir, 'execargv.json'))}, JSON.stringify(process.execArgv)));\n`);
    const r = spawnSync(process.execPath, ['-r', probe, MAIN, 'search', '-if', small, '--no-index', '-i'], { env, encoding: 'latin1', maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'execargv.json'), 'utf8'))).toEqual(['-r', probe]);
  });
});
