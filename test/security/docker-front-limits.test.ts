import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { FrontSuite } from '../docker/front-suite';
import type { LoginUser } from '../docker/login-user';
import { waitFor } from '../helpers/wait';

// Outside attack 13, F6, from the attacker's real position: mallory, a non-root login user in
// group docker, talking only to a real `contid docker front`. She opened 200 connections, each a
// create whose 1 MiB judged body never ends, and the front (which keeps a judged body until it
// is whole) went from 58 to 266 MB: nothing bounded connections or held bytes, so she could make
// the front the OOM killer's pick — and its unit's ExecStopPost (--restore) gives group docker
// dockerd's own socket while it restarts. Meanwhile alice (another user) and host root must still
// be able to `docker run` through the front.
const suite = FrontSuite.withContidDefault('frontlim', { name: 'local/busybox-frontlim:1', links: { 'bin/echo': 'busybox', 'bin/sleep': 'busybox' } });
const { engine, frontSock } = suite;
let mallory: LoginUser;
let alice: LoginUser;

/**
 * Opens argv[2] connections to argv[1]; on each writes argv[3] (a JSON string) and argv[5]
 * spaces, then waits argv[4] ms and prints, as JSON, how many were closed and the first line of each answer.
 * Prints `sent` once every write is flushed.
 */
const HOLDER = `
const net = require('net');
const [sock, n, head, holdMs, pad] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const bytes = Buffer.concat([Buffer.from(head, 'latin1'), Buffer.alloc(pad, ' ')]);
const status = {};
let closed = 0;
let flushed = 0;
const conns = [];
for (let i = 0; i < n; i++) {
  const s = net.connect(sock);
  conns.push(s);
  let first = '';
  s.on('data', (d) => { if (!first) { first = d.toString('latin1').split('\\r\\n')[0]; status[first] = (status[first] || 0) + 1; } });
  s.on('error', () => {});
  s.on('close', () => closed++);
  s.write(bytes, () => { if (++flushed === n) process.stdout.write('sent\\n'); });
}
setTimeout(() => { process.stdout.write(JSON.stringify({ closed, status }) + '\\n'); process.exit(0); }, holdMs);`;

/** HOLDER run as USER (a login session of hers, as LoginUser.run makes one), not waited for. */
function holder(user: LoginUser, n: number, bytes: string, holdMs: number, pad = 0): { child: ChildProcess; out: () => string; done: Promise<{ closed: number; status: Record<string, number> }> } {
  const dockerGid = Number(spawnSync('getent', ['group', 'docker'], { encoding: 'utf8' }).stdout.split(':')[2]);
  const script = `echo ${user.uid} >/proc/self/loginuid && exec setpriv --reuid ${user.uid} --regid ${user.gid} --groups ${dockerGid} --inh-caps -all -- "$@"`;
  const child = spawn('sh', ['-c', script, 'sh', process.execPath, '-e', HOLDER, frontSock, String(n), JSON.stringify(bytes), String(holdMs), String(pad)], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<{ closed: number; status: Record<string, number> }>((resolve, reject) =>
    child.once('exit', () => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as { closed: number; status: Record<string, number> });
      } catch {
        reject(new Error(`holder printed ${JSON.stringify(out)}`));
      }
    }),
  );
  return { child, out: () => out, done };
}

/** The front process's resident memory now, in bytes. */
const rss = (): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${suite.front.pid}/status`, 'utf8'))![1]) * 1024;

/** A plain `docker run --rm` through the front by USER (null: host root) prints what it echoes. */
function runs(user: LoginUser | null, word: string): void {
  const r = suite.docker(user, ['run', '--rm', engine.image, 'echo', word]);
  expect({ status: r.status, stdout: r.stdout.trim() }).toEqual({ status: 0, stdout: word });
}

const createHead = (length: number) => `POST /containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

beforeAll(async () => {
  mallory = suite.loginUser('contid-fl-mallory');
  alice = suite.loginUser('contid-fl-alice');
  await suite.start();
}, 180_000);

afterAll(async () => {
  await suite.stop();
}, 120_000);

describe('what the front holds for a user in group docker is bounded', () => {
  test('200 connections each holding an unfinished 1 MiB create body: the front stays small, alice and root still run containers', async () => {
    runs(alice, 'warm');
    const before = rss();
    const size = 1 << 20;
    const attack = holder(mallory, 200, createHead(size), 25_000, size - 1);
    try {
      await waitFor('her 200 bodies sent', () => attack.out().includes('sent') || attack.child.exitCode !== null, 60_000);
      await new Promise((r) => setTimeout(r, 2000));
      const grown = rss() - before;
      // Before: ~1 MiB per connection (+208 MB); now her 8 MiB of held bytes, what each connection
      // read before it was closed and the allocator's high-water mark (+50 MB measured).
      expect(grown).toBeLessThan(96 << 20);
      runs(alice, 'alice-meanwhile');
      runs(null, 'root-meanwhile');
    } finally {
      attack.child.kill();
      await attack.done.catch(() => null);
    }
    // One line for all her closed connections, not one each.
    const lines = suite.front.log.split('\n').filter((l) => l.includes(`closed a connection of uid ${mallory.uid}`));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(3);
    expect(lines[0]).toMatch(/bytes of unfinished requests \(at most 8388608\); closing this connection/);
  }, 180_000);

  test('300 connections of hers at once: the 44 over her 256 are answered 503, alice and root still run containers', async () => {
    const attack = holder(mallory, 300, '', 12_000);
    {
      await waitFor('her 300 connections', () => attack.out().includes('sent') || attack.child.exitCode !== null, 60_000);
      await new Promise((r) => setTimeout(r, 1500));
      runs(alice, 'alice-beside');
      runs(null, 'root-beside');
      // Her own next call is turned away with a line the CLI prints.
      const r = suite.docker(mallory, ['version', '--format', '{{.Server.Version}}']);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/contid docker front: uid \d+ has 256 connections open \(at most 256\); close some and try again/);
    }
    expect((await attack.done).status).toEqual({ 'HTTP/1.1 503 Service Unavailable': 44 });
    // Her connections closed, she is back under her limit.
    await waitFor('her connections closed', () => suite.docker(mallory, ['version', '--format', '{{.Server.Version}}']).status === 0, 30_000);
  }, 180_000);

  test('a head or a judged body left unfinished is closed after --request-timeout (408); an idle keep-alive connection is not', async () => {
    await suite.front.stop();
    await suite.front.start(['--request-timeout', '3']);
    const slowHead = holder(mallory, 3, 'POST /containers/create HTTP/1.1\r\nHost: docker\r\n', 7000);
    const slowBody = holder(mallory, 3, createHead(100) + '{"Image":', 7000);
    const idle = holder(mallory, 3, '', 7000);
    const [head, body, none] = await Promise.all([slowHead.done, slowBody.done, idle.done]);
    expect(head).toEqual({ closed: 3, status: { 'HTTP/1.1 408 Request Timeout': 3 } });
    expect(body).toEqual({ closed: 3, status: { 'HTTP/1.1 408 Request Timeout': 3 } });
    expect(none).toEqual({ closed: 0, status: {} });
    runs(alice, 'alice-after');
  }, 120_000);
});
