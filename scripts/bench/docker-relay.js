// pnpm bench docker-relay: how much of `contid docker front`'s cost is the relay itself. The
// bench's own dockerd (as `pnpm bench docker`), a plain runc container, and three relays on the
// Docker API socket: contid's front, a bare Node pipe (net.connect + pipe, nothing parsed) and a
// bare C relay (scripts/bench/relay/relay-floor.c, epoll, nothing parsed). For each: `docker exec
// C true` and `docker run --rm … true` through it against dockerd's socket directly, in
// alternating pairs (median pair ratio, + ms), and the relay's CPU per call (its main thread,
// /proc/PID/schedstat). The Node pipe is the floor of any front written in Node; the C relay,
// of one written natively.
const { spawn, spawnSync } = require('node:child_process');
const { mkdirSync, mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { startEngine, EXEC_ROOT, HOST, IMAGE } = require('./docker');

const REPO = resolve(__dirname, '../..');
const CLI = join(REPO, 'packages/cli/dist/main.js');
const PAIRS = Number(process.env.BENCH_PAIRS || 20);
const NODE_PIPE = `const net = require('node:net');
const [listen, up] = process.argv.slice(1);
try { require('node:fs').unlinkSync(listen); } catch {}
net.createServer({ allowHalfOpen: true }, (c) => {
  const u = net.connect({ path: up, allowHalfOpen: true });
  c.pipe(u);
  u.pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
}).listen(listen, () => console.log('node pipe: ' + listen + ' -> ' + up));`;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mainThreadMs = (pid) => Number(require('node:fs').readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

function timed(args) {
  const t = process.hrtime.bigint();
  const r = spawnSync('docker', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Starts a relay process and waits for its 'LISTEN -> UPSTREAM' line (on stdout or stderr: it listens then). */
function startRelay(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((res, rej) => {
    let said = '';
    const heard = (d) => {
      said += d;
      if (said.includes(' -> ')) res(p);
    };
    p.stdout.on('data', heard);
    p.stderr.on('data', heard);
    p.once('exit', (code) => rej(new Error(`${cmd} exited ${code}: ${said.trim()}`)));
  });
}

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-relay-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const floor = join(dir, 'relay-floor');
  const built = spawnSync(process.env.CC || 'cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', floor, join(__dirname, 'relay/relay-floor.c')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`cc relay-floor.c: ${built.stderr}`);
  const daemon = await startEngine(stateDir);
  const sock = (name) => join(EXEC_ROOT, `${name}.sock`);
  const upstream = HOST.slice('unix://'.length);
  const relays = [];
  try {
    relays.push({ name: 'contid docker front', proc: await startRelay(process.execPath, [CLI, 'docker', 'front', '--listen', sock('relay-front'), '--upstream', upstream, '--requesters', join(stateDir, 'requesters')]), host: `unix://${sock('relay-front')}` });
    relays.push({ name: 'bare Node pipe', proc: await startRelay(process.execPath, ['-e', NODE_PIPE, sock('relay-node'), upstream]), host: `unix://${sock('relay-node')}` });
    relays.push({ name: 'bare C relay', proc: await startRelay(floor, [sock('relay-c'), upstream]), host: `unix://${sock('relay-c')}` });
    const id = spawnSync('docker', ['-H', HOST, 'run', '-d', '--runtime', 'runc', IMAGE, 'sleep', '3600'], { encoding: 'utf8' }).stdout.trim();
    if (!id) throw new Error('docker run -d: no container');
    const calls = {
      [`docker exec C true`]: (host) => timed(['-H', host, 'exec', id, 'true']),
      [`docker run --rm ${IMAGE} true`]: (host) => timed(['-H', host, 'run', '--rm', '--runtime', 'runc', IMAGE, 'true']),
    };
    for (const [what, call] of Object.entries(calls)) {
      for (const r of relays) call(r.host); // warm-up: each relay's code and dockerd's caches
      call(HOST);
      const by = new Map(relays.map((r) => [r, { ratios: [], more: [], cpu: 0 }]));
      for (let i = 0; i < PAIRS; i++) {
        // Each relay in turn, each paired with a direct call; which of the pair goes first alternates.
        for (const r of relays) {
          const m = by.get(r);
          const cpu = mainThreadMs(r.proc.pid);
          let via;
          let direct;
          if (i % 2) [via, direct] = [call(r.host), call(HOST)];
          else [direct, via] = [call(HOST), call(r.host)];
          m.cpu += mainThreadMs(r.proc.pid) - cpu; // the direct call costs the relay nothing
          m.ratios.push(via / direct);
          m.more.push(via - direct);
        }
      }
      console.log(`${what}, ${PAIRS} alternating pairs per relay (via the relay vs dockerd's socket), plain runc:`);
      for (const r of relays) {
        const m = by.get(r);
        console.log(`  ${r.name.padEnd(22)} median pair ratio ${median(m.ratios).toFixed(3)}, +${median(m.more).toFixed(1)} ms; relay main-thread CPU ${(m.cpu / PAIRS).toFixed(2)} ms per call`);
      }
    }
  } finally {
    for (const r of relays) r.proc.kill('SIGTERM');
    spawnSync('sh', ['-c', `docker -H ${HOST} ps -aq | xargs -r docker -H ${HOST} rm -f`]);
    daemon.kill('SIGTERM');
    await Promise.all([daemon, ...relays.map((r) => r.proc)].map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
};
