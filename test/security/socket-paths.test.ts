import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { contid, run, tempStateDir } from '../helpers/cli';
import { AS_NOBODY } from './harness';

/**
 * `contid tail --socket PATH` and `contid serve --socket PATH` run as root and clear PATH for
 * their socket. An unprivileged user who owns a directory on the way (her home, say) links an
 * entry of it to a root directory holding a file of the socket's name: tail unlinked that
 * file through her link (outside attack 7, F8), serve listened there (her link can later lead
 * its clients to her own socket). A socket path is used only under directories nobody else
 * can redirect (as --output), and only a stale socket — nothing else — is ever removed.
 * `contid docker front` (which renames its socket over --listen) keeps the same rule.
 */
describe('unix sockets at paths someone else prepared (real CLI)', () => {
  const state = tempStateDir('sec-sockpaths');
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-sockpaths-'));
  const rootDir = join(dir, 'rootdir');
  const home = join(dir, 'home');
  const precious = "root's precious file\n";
  const tail = (socket: string): ReturnType<typeof contid> =>
    contid(['tail', '--source', 'plugin', '--socket', socket], { env: state.env, input: '', timeout: 30_000 });
  // Refused at once, or (before the fix) serving until the timeout ends it.
  const serve = (socket: string): ReturnType<typeof contid> => contid(['serve', '--socket', socket], { env: state.env, timeout: 15_000 });
  const REFUSED_LINK = /^contid: refusing to write under .*\/home\/audit: .*\/home\S* is a (directory|symbolic link) owned by uid 65534, not by root or you/;
  const oneLine = (r: ReturnType<typeof contid>): string[] => r.stderr.trim().split('\n');

  beforeAll(() => {
    chmodSync(dir, 0o755);
    mkdirSync(rootDir, { mode: 0o700 });
    mkdirSync(home, { mode: 0o755 });
    const own = run('chown', ['65534:65534', home]);
    expect(own.status).toBe(0);
    // nobody, in her own directory: an entry that leads to root's directory
    const planted = run(AS_NOBODY[0], [...AS_NOBODY.slice(1), 'ln', '-s', rootDir, join(home, 'audit')]);
    expect([planted.status, planted.stderr]).toEqual([0, '']);
  });
  // Each case starts from root's two files (a case that failed may have removed one).
  beforeEach(() => {
    for (const name of ['live.sock', 'contid.sock']) writeFileSync(join(rootDir, name), precious);
  });
  afterAll(() => {
    state.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const rootFilesIntact = (): void => {
    expect(readdirSync(rootDir).sort()).toEqual(['contid.sock', 'live.sock']);
    for (const name of ['live.sock', 'contid.sock']) {
      expect(lstatSync(join(rootDir, name)).isFile()).toBe(true);
      expect(readFileSync(join(rootDir, name), 'utf8')).toBe(precious);
    }
  };

  it("tail --socket through another user's directory link: refused with one line, root's file untouched", () => {
    const r = tail(join(home, 'audit', 'live.sock'));
    expect(r.status).not.toBe(0);
    expect(oneLine(r)).toEqual([expect.stringMatching(REFUSED_LINK)]);
    rootFilesIntact();
  });

  it('tail --socket naming a file that is not a socket (in root’s own directory): refused, the file kept', () => {
    const r = tail(join(rootDir, 'live.sock'));
    expect(r.status).not.toBe(0);
    expect(oneLine(r)).toEqual([`contid: ${join(rootDir, 'live.sock')} exists and is not a socket; refusing to replace it`]);
    rootFilesIntact();
  });

  it('tail --socket over a stale socket (its process died): replaced, and tail runs', () => {
    const sockDir = join(dir, 'sockets');
    mkdirSync(sockDir, { recursive: true, mode: 0o700 });
    const path = join(sockDir, 'live.sock');
    spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`]);
    expect(lstatSync(path).isSocket()).toBe(true);
    const r = tail(path);
    expect([r.status, r.stderr.split('\n').filter((l) => /error|refus|cannot/.test(l))]).toEqual([0, []]);
  });

  it("serve --socket through another user's directory link: refused with one line, nothing made in root's directory", () => {
    const r = serve(join(home, 'audit', 'new.sock'));
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(oneLine(r)).toEqual([expect.stringMatching(REFUSED_LINK)]);
    rootFilesIntact();
  });

  it('serve --socket naming a file that is not a socket: refused, the file kept', () => {
    const r = serve(join(rootDir, 'contid.sock'));
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(oneLine(r)).toEqual([`contid: ${join(rootDir, 'contid.sock')} exists and is not a socket; refusing to replace it`]);
    rootFilesIntact();
  });

  // `contid docker front` renames its socket, or on --restore a link to dockerd's, over --listen.
  const front = (listen: string, restore: boolean): ReturnType<typeof contid> =>
    contid(['docker', 'front', ...(restore ? ['--restore'] : []), '--listen', listen, '--upstream', join(dir, 'no-dockerd.sock'), '--requesters', join(state.dir, 'requesters')], { env: state.env, timeout: 15_000 });

  it.each([false, true])("docker front --listen through another user's directory link (--restore: %s): refused with one line, nothing made in root's directory", (restore) => {
    const r = front(join(home, 'audit', 'docker.sock'), restore);
    expect(r.status).toBe(1);
    expect(oneLine(r)).toEqual([expect.stringMatching(REFUSED_LINK)]);
    rootFilesIntact();
  });

  it.each([false, true])('docker front --listen naming a file that is not a socket (--restore: %s): refused, the file kept', (restore) => {
    const r = front(join(rootDir, 'live.sock'), restore);
    expect(r.status).toBe(1);
    expect(oneLine(r)).toEqual([`contid: ${join(rootDir, 'live.sock')} exists and is not a socket or a link to one; refusing to replace it`]);
    rootFilesIntact();
  });

  it('serve --socket under /proc: one line, no endless mkdir', () => {
    const r = serve('/proc/contid-sec-sock/x/contid.sock');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(1);
    expect(oneLine(r)).toEqual([expect.stringMatching(/^contid: cannot create directory \/proc\/contid-sec-sock .*ENOENT$/)]);
    expect(existsSync('/proc/contid-sec-sock')).toBe(false);
  });
});
