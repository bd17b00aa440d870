// pnpm bench service: what going through `contid serve` costs. (1) whole-process
// `contid exec -- true` through the service vs direct mode vs plain `node -e 0`;
// (2) tags per second through the socket (renew own session + create request, with peer
// checks) vs the in-process Tagger doing the same; (3) pipelined `show` requests per second;
// (4) host `contid exec -- true` through the service while every nested channel floods, against
// the same with the floods stopped (SIGSTOP), interleaved pairs. Target: ≤ 2× idle.
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const CLI = resolve(__dirname, '../../packages/cli/dist/main.js');
const CORE = resolve(__dirname, '../../packages/core/dist/index.js');
const SERVICE = resolve(__dirname, '../../packages/service/dist/index.js');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

function timeRun(argv, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return ms(t);
}

async function startService(stateDir, socket) {
  const child = spawn(process.execPath, [CLI, 'serve', '--socket', socket], { env: { ...process.env, CONTID_STATE_DIR: stateDir }, stdio: 'ignore' });
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) throw new Error('contid serve did not start');
  return child;
}

/** Starts `n` containers that each flood their own nested channel; resolves once all flood. */
async function startFlooders(dir, socket, n, connections) {
  const { callService } = require(SERVICE);
  const flooders = [];
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, [join(__dirname, 'nested-flooder.js'), socket, `flooder-${i}`, String(connections)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const contid = await new Promise((res) => child.stdout.once('data', (d) => res(d.toString().trim())));
    const channelDir = join(dir, `nested-${i}`);
    await callService(socket, { op: 'channel', contid, path: channelDir });
    child.stdin.write(`${join(channelDir, 'contid.sock')}\n`);
    flooders.push(child);
  }
  return flooders;
}

async function floodBench(dir, socket, viaEnv) {
  const channels = 4;
  const connections = 8;
  const flooders = await startFlooders(dir, socket, channels, connections);
  const signal = (sig) => flooders.forEach((f) => f.kill(sig));
  const pause = (t) => new Promise((r) => setTimeout(r, t));
  const runs = { idle: [], flood: [] };
  const exec = () => new Promise((res, rej) => {
    const t = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, 'exec', '--name', 'bench-host', '--', 'true'], { env: viaEnv, stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? res(ms(t)) : rej(new Error(`contid exec exited ${code}`))));
  });
  try {
    for (let i = 0; i < 15; i++) {
      signal('SIGCONT');
      await pause(300);
      runs.flood.push(await exec());
      signal('SIGSTOP');
      await pause(300);
      runs.idle.push(await exec());
    }
  } finally {
    signal('SIGCONT');
    signal('SIGKILL');
  }
  const [idle, flood] = [median(runs.idle), median(runs.flood)];
  console.log(`host contid exec -- true through contid serve while ${channels} nested channels flood (${connections} connections each), median of 15 interleaved pairs`);
  console.log(`  floods stopped: ${idle.toFixed(1)} ms`);
  console.log(`  floods running: ${flood.toFixed(1)} ms  = ${(flood / idle).toFixed(2)}x idle (target <= 2x)`);
}

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-service-'));
  const socket = join(dir, 'run', 'contid.sock');
  const served = join(dir, 'served');
  const direct = join(dir, 'direct');
  const service = await startService(served, socket);
  try {
    const viaEnv = { ...process.env, CONTID_STATE_DIR: served, CONTID_SOCKET: socket };
    const directEnv = { ...process.env, CONTID_STATE_DIR: direct, CONTID_SOCKET: join(dir, 'absent.sock') };
    const runs = { node: [], direct: [], service: [] };
    for (let i = 0; i < 20; i++) {
      runs.node.push(timeRun([process.execPath, '-e', '0'], directEnv));
      runs.direct.push(timeRun([process.execPath, CLI, 'exec', '--name', 'bench', '--', 'true'], directEnv));
      runs.service.push(timeRun([process.execPath, CLI, 'exec', '--name', 'bench', '--', 'true'], viaEnv));
    }
    const [n, d, s] = [median(runs.node), median(runs.direct), median(runs.service)];
    console.log('contid exec -- true, whole process (median of 20, interleaved)');
    console.log(`  node -e 0:              ${n.toFixed(1)} ms`);
    console.log(`  direct (opens registry): ${d.toFixed(1)} ms`);
    console.log(`  through contid serve:    ${s.toFixed(1)} ms  = ${(s / d).toFixed(2)}x direct, ${(s / n).toFixed(2)}x node -e 0`);

    const { SessionWritePath, Tagger } = require(CORE);
    const { ServiceClient } = require(SERVICE);
    const tags = 200;
    const client = await ServiceClient.connect(socket);
    const renew = new SessionWritePath();
    let t = process.hrtime.bigint();
    for (let i = 0; i < tags; i++) {
      renew.renewOwnSession();
      await client.call({ op: 'create', orchestrator: 'bench', name: `s${i}`, parent: null, target: 'peer' });
    }
    const viaRate = tags / (ms(t) / 1000);
    const tagger = Tagger.open({ stateDir: direct });
    t = process.hrtime.bigint();
    for (let i = 0; i < tags; i++) tagger.create({ orchestrator: 'bench', name: `d${i}`, parent: null, target: { pid: 'self' } });
    const directRate = tags / (ms(t) / 1000);
    tagger.close();
    console.log(`tags/s in one process (renew own session + bind + audit record + registry), ${tags} each`);
    console.log(`  in-process Tagger:    ${Math.round(directRate)} tags/s`);
    console.log(`  through contid serve: ${Math.round(viaRate)} tags/s  = ${(viaRate / directRate).toFixed(2)}x in-process`);

    const shows = 5000;
    t = process.hrtime.bigint();
    await Promise.all(Array.from({ length: shows }, () => client.send({ op: 'show', ref: 's0' })));
    console.log(`pipelined show requests on one connection: ${Math.round(shows / (ms(t) / 1000))} requests/s`);
    client.close();

    await floodBench(dir, socket, viaEnv);
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
};
