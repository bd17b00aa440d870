import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTID_MAIN } from '../helpers/cli';
import { FIXTURES } from './harness';

/**
 * `contid tail --socket PATH` runs as root (auditd starts the plugin so). When PATH's directory
 * is another user's, that user can rename a symlink over the fresh socket: a chmod(PATH, 0600)
 * after bind then changed the mode of whatever root file the symlink names (outside attack 6,
 * the class of attack 4's channel swap). The socket's mode comes from bind itself, and since
 * outside attack 7 such a directory is refused before anything is bound or removed in it.
 */
const NOBODY = 65534;
const ATTEMPTS = 20;

test('a user owning the socket’s directory cannot make contid tail change a root file’s mode: the directory is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-tailsock-'));
  try {
    chmodSync(dir, 0o755);
    const racer = join(dir, 'swap-channel');
    const cc = spawnSync('gcc', ['-O2', '-o', racer, join(FIXTURES, 'swap-channel.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    const victim = join(dir, 'root-file');
    writeFileSync(victim, 'root file\n');
    chmodSync(victim, 0o644);
    const socks = join(dir, 'socks');
    spawnSync('install', ['-d', '-o', String(NOBODY), '-g', String(NOBODY), '-m', '0755', socks]);
    chownSync(racer, NOBODY, NOBODY);
    const swapper = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', racer, socks, String(ATTEMPTS), victim, 'tail.sock'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    swapper.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const until = async (what: string) => {
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && !out.includes(what); ) await new Promise((r) => setTimeout(r, 50));
    };
    await until('"step":"ready"');
    expect(out).toContain('"step":"ready"');
    for (let i = 0; i < ATTEMPTS; i++) {
      // stdin at its end: the plugin source would end at once, after the socket was bound. A
      // directory another user owns is refused before any bind (outside attack 7, F8), so the
      // swapper never sees a socket to swap.
      const r = spawnSync(process.execPath, [CONTID_MAIN, 'tail', '--source', 'plugin', '--socket', join(socks, String(i), 'tail.sock')], { input: '', timeout: 20_000, encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([1, expect.stringMatching(/^contid: refusing to write under .*: .*socks is a directory owned by uid 65534, not by root or you \(uid 0\)\n$/)]);
    }
    swapper.kill();
    expect(out).not.toContain('"step":"swap"');
    expect((statSync(victim).mode & 0o777).toString(8)).toBe('644');
    expect(readFileSync(victim, 'utf8')).toBe('root file\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
