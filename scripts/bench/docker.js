// pnpm bench docker: what contid adds to `docker run` and `docker exec`. A dockerd of the
// bench's own (unique roots) runs `docker run --rm local/busybox:1 true` and `docker exec C true`
// with plain runc on dockerd's own socket, and through contid as in production — the client on
// `contid docker front` (requester identity), the compiled contid-runc-fast shim (built by
// scripts/build-shim.sh, the sh contid-runc beside it), `contid docker agent` draining the
// spool — alternating, and prints the median ratios (targets: run <= 1.03, exec <= 1.05), and
// the same with the sh shim alone (runtime contid-sh) for comparison. Then each shim's own cost
// per runc call, in ms, against calling the same binary directly (passthrough, and the create
// and exec paths). With the agent on, each figure is followed by the agent's share: the same pairs
// rotating between the agent draining, draining at nice 19, and paused.
const { spawn, spawnSync } = require('node:child_process');
const { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { reniceThreads, threadCpuMs } = require('./lib/threads');

const REPO = resolve(__dirname, '../..');
const SHIM = join(REPO, 'integrations/docker/contid-runc');
const FAST = join(REPO, 'integrations/docker/contid-runc-fast');
const CLI = join(REPO, 'packages/cli/dist/main.js');
// BENCH_FRONT_CLI: another build's cli (e.g. main's) for the front, to compare fronts in one session.
const FRONT_CLI = process.env.BENCH_FRONT_CLI || CLI;
const PAIRS = Number(process.env.BENCH_PAIRS || 20);
const CALLS = Number(process.env.BENCH_CALLS || 200);
// BENCH_CPU_ONLY=1: only the CPU the front and the agent use per run and per exec (no timed pairs).
const CPU_ONLY = process.env.BENCH_CPU_ONLY === '1';
const ROOT = '/var/lib/contid-bench-docker';
const EXEC_ROOT = '/run/contid-bench-docker';
const HOST = `unix://${EXEC_ROOT}/docker.sock`;
const FRONT = `unix://${EXEC_ROOT}/front.sock`;
const IMAGE = 'local/busybox:1';

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** fn() run N times; the CPU the given processes used per call, in ms: all threads, and the main thread (JavaScript; the rest is V8's GC and compiler threads and libuv's pool). */
function cpuPerCall(pids, n, fn) {
  const before = pids.map(threadCpuMs);
  for (let i = 0; i < n; i++) fn();
  return pids.map((p, i) => {
    const after = threadCpuMs(p);
    return { all: (after.all - before[i].all) / n, main: (after.main - before[i].main) / n, system: after.system };
  });
}
/** "12.3 ms (main thread 8.1)". */
const cpuText = (c) => `${c.all.toFixed(1)} ms (main thread ${c.main.toFixed(1)}; in the kernel ${(100 * c.system).toFixed(0)} % of its life)`;

function docker(args) {
  return spawnSync('docker', ['-H', HOST, ...args], { encoding: 'utf8' });
}

function timed(cmd, args, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

async function startEngine(stateDir) {
  const built = spawnSync(join(REPO, 'scripts/build-shim.sh'), [FAST], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`scripts/build-shim.sh: ${built.stderr}`);
  mkdirSync(join(ROOT, 'docker'), { recursive: true });
  mkdirSync(EXEC_ROOT, { recursive: true });
  const log = openSync(join(ROOT, 'dockerd.log'), 'w');
  const daemon = spawn(
    'dockerd',
    ['--data-root', join(ROOT, 'docker'), '--exec-root', EXEC_ROOT, '--pidfile', `${EXEC_ROOT}.pid`, '-H', HOST, '--iptables=false', '--bridge=none', '--add-runtime', `contid=${FAST}`, '--add-runtime', `contid-sh=${SHIM}`],
    { stdio: ['ignore', log, log], env: { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent', CONTID_REQUESTERS_DIR: join(stateDir, 'requesters') } },
  );
  closeSync(log);
  for (let i = 0; docker(['version']).status !== 0; i++) {
    if (daemon.exitCode !== null || i > 300) throw new Error(`dockerd did not start: ${readFileSync(join(ROOT, 'dockerd.log'), 'utf8').slice(-1000)}`);
    await sleep(200);
  }
  if (docker(['image', 'inspect', IMAGE]).status !== 0) {
    const rootfs = join(ROOT, 'rootfs');
    rmSync(rootfs, { recursive: true, force: true });
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    writeFileSync(join(rootfs, 'bin', 'busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    symlinkSync('busybox', join(rootfs, 'bin', 'true'));
    symlinkSync('busybox', join(rootfs, 'bin', 'sleep'));
    const r = spawnSync('sh', ['-c', `tar -C ${rootfs} -c . | docker -H ${HOST} import - ${IMAGE}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`docker import: ${r.stderr}`);
  }
  return daemon;
}

// The bench's dockerd, for the other Docker benches (docker-relay).
Object.assign(exports, { startEngine, EXEC_ROOT, HOST, IMAGE });

/** The shim's own cost: the same binary called directly and through the shim, alternating. */
function shimOverhead(stateDir) {
  const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent', CONTID_RUNC: '/bin/true' };
  const bundle = mkdtempSync(join(tmpdir(), 'contid-bench-bundle-'));
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, root: { path: 'rootfs' } }));
  // runc exec's process.json as containerd writes it for `docker exec C true` (one line, ≈ 800 bytes).
  const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
  writeFileSync(join(bundle, 'process.json'), JSON.stringify({ user: { uid: 0, gid: 0 }, args: ['true'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=c0ffee'], cwd: '/', capabilities: { bounding: caps, effective: caps, permitted: caps } }));
  const out = {};
  const cases = {
    'passthrough (state ID)': ['--root', '/run/x', 'state', 'abc'],
    'create (renew + spool + exec)': ['--root', '/run/x', '--log', '/dev/null', '--log-format', 'json', 'create', '--bundle', bundle, '--pid-file', join(bundle, 'pid'), 'bench'],
    'exec (renew + spool + exec)': ['--root', '/run/x', '--log', '/dev/null', '--log-format', 'json', 'exec', '--process', join(bundle, 'process.json'), '--detach', '--pid-file', join(bundle, 'e.pid'), 'bench'],
  };
  for (const [label, args] of Object.entries(cases)) {
    const direct = [];
    const via = [];
    const compiled = [];
    for (let i = 0; i < CALLS; i++) {
      direct.push(timed('/bin/true', args, env));
      via.push(timed(SHIM, args, env));
      compiled.push(timed(FAST, args, env));
    }
    out[label] = { direct: median(direct), via: median(via), compiled: median(compiled) };
  }
  rmSync(join(stateDir, 'spool'), { recursive: true, force: true });
  rmSync(bundle, { recursive: true, force: true });
  // And against the real runc, for scale: runc --version direct vs through the shim.
  const real = { direct: [], via: [] };
  const renv = { ...env, CONTID_RUNC: '' };
  for (let i = 0; i < CALLS / 4; i++) {
    real.direct.push(timed('runc', ['--version'], renv));
    real.via.push(timed(SHIM, ['--version'], renv));
  }
  out['runc --version'] = { direct: median(real.direct), via: median(real.via) };
  return out;
}

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-docker-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const daemon = await startEngine(stateDir);
  // BENCH_AGENT=off: the shim alone (entries pile up in the spool), to separate its cost from
  // the agent's CPU use on a small host.
  const withAgent = process.env.BENCH_AGENT !== 'off';
  // BENCH_PROFILE=DIR: the agent and the front write V8 CPU profiles (node --cpu-prof) into DIR.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', resolve(process.env.BENCH_PROFILE)] : [];
  // BENCH_AGENT_NICE=N: the agent's --nice (default: the agent's own default).
  const nice = process.env.BENCH_AGENT_NICE ? ['--nice', process.env.BENCH_AGENT_NICE] : [];
  const agent = withAgent ? spawn(process.execPath, [...profile, CLI, 'docker', 'agent', '--host', HOST, ...nice], { env: { ...process.env, CONTID_STATE_DIR: stateDir }, stdio: 'ignore' }) : null;
  const frontProc = spawn(process.execPath, [...profile, FRONT_CLI, 'docker', 'front', '--listen', FRONT.slice(7), '--upstream', HOST.slice(7), '--requesters', join(stateDir, 'requesters')], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise((r, j) => {
    frontProc.stderr.on('data', (d) => d.toString().includes('->') && r());
    frontProc.once('exit', () => j(new Error('contid docker front exited')));
  });
  try {
    const f = (x) => x.toFixed(1);
    /** Alternating pairs (which goes first alternates too, so drift and caches favour neither). */
    const pairs = (contid, plain) => {
      const c = [];
      const p = [];
      const ratios = [];
      for (let i = 0; i < PAIRS; i++) {
        const [a, b] = i % 2 ? [contid(), plain()] : [plain(), contid()].reverse();
        c.push(a);
        p.push(b);
        ratios.push(a / b);
      }
      return { c, p, ratios };
    };
    const report = (what, { c, p, ratios }, target) => {
      console.log(`${what}, ${PAIRS} alternating pairs, contid docker agent ${withAgent ? `running${nice.length ? ` at nice ${nice[1]}` : ''}` : 'off'}`);
      console.log(`  plain runc, dockerd's socket`.padEnd(39) + `median ${f(median(p))} ms`);
      console.log(`  contid (front + shim${withAgent ? ' + agent' : ''})`.padEnd(39) + `median ${f(median(c))} ms`);
      console.log(`  ratio contid/plain: median of pair ratios ${median(ratios).toFixed(3)}, ratio of medians ${(median(c) / median(p)).toFixed(3)} (target <= ${target})`);
    };
    /**
     * The agent's share: pairs as above, rotating between the agent draining beside them (at
     * its --nice), the same agent at nice 19 for the pair, and the agent paused (SIGSTOP for the
     * pair; SIGCONT after). Each pair starts from a drained spool, so the paused pair's entries
     * are not drained in the next.
     */
    const drainShare = (what, contid, plain) => {
      const spoolDir = join(stateDir, 'spool');
      const pending = () => (existsSync(spoolDir) ? readdirSync(spoolDir).filter((f) => f.endsWith('.entry')).length : 0);
      const base = nice.length ? Number(nice[1]) : 0;
      const byMode = { draining: [], nice19: [], paused: [] };
      const modes = Object.keys(byMode);
      for (let i = 0; i < PAIRS; i++) {
        // Wait for the drain (at most 10 s: an entry the agent keeps, say a quarantined one, must not stall the bench).
        for (let t = Date.now(); pending() > 0 && Date.now() - t < 10_000; ) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        const mode = modes[i % 3];
        if (mode === 'paused') process.kill(agent.pid, 'SIGSTOP');
        if (mode === 'nice19') reniceThreads(agent.pid, 19);
        try {
          const [a, b] = Math.floor(i / 3) % 2 ? [contid(), plain()] : [plain(), contid()].reverse();
          byMode[mode].push(a / b);
        } finally {
          if (mode === 'paused') process.kill(agent.pid, 'SIGCONT');
          if (mode === 'nice19') reniceThreads(agent.pid, base);
        }
      }
      console.log(`  ${what}, the agent's share (${PAIRS} pairs rotating): median pair ratio with the agent draining at nice ${base} ${median(byMode.draining).toFixed(3)}, at nice 19 ${median(byMode.nice19).toFixed(3)}, paused ${median(byMode.paused).toFixed(3)}`);
    };
    const run = (host, runtime) => () => timed('docker', ['-H', host, 'run', '--rm', '--runtime', runtime, IMAGE, 'true']);
    run(HOST, 'runc')();
    run(FRONT, 'contid')(); // warm-up
    if (!CPU_ONLY) {
      report(`docker run --rm ${IMAGE} true`, pairs(run(FRONT, 'contid'), run(HOST, 'runc')), 1.03);
      run(FRONT, 'contid-sh')();
      const shRun = pairs(run(FRONT, 'contid-sh'), run(HOST, 'runc'));
      console.log(`  with the sh shim instead (runtime contid-sh): median of pair ratios ${median(shRun.ratios).toFixed(3)}, ratio of medians ${(median(shRun.c) / median(shRun.p)).toFixed(3)}`);
      // The front's own share of a run (create, attach, start, wait, remove): plain runc through it or not.
      const frontRun = pairs(run(FRONT, 'runc'), run(HOST, 'runc'));
      console.log(`  the front alone (plain runc): median of pair ratios ${median(frontRun.ratios).toFixed(3)}, +${f(median(frontRun.c) - median(frontRun.p))} ms`);
      // The shim's share (and the agent's, draining its entries): contid's runtime on dockerd's own socket, no front.
      const shimRun = pairs(run(HOST, 'contid'), run(HOST, 'runc'));
      console.log(`  the shim alone (dockerd's socket): median of pair ratios ${median(shimRun.ratios).toFixed(3)}, +${f(median(shimRun.c) - median(shimRun.p))} ms`);
    }
    const [frontRunCpu, agentRunCpu] = cpuPerCall([frontProc.pid, agent?.pid ?? 0], PAIRS, run(FRONT, 'contid'));
    console.log(`  CPU per docker run: the front ${cpuText(frontRunCpu)}, the agent ${withAgent ? cpuText(agentRunCpu) : 'off'} (${PAIRS} runs, /proc/PID/task/*/schedstat)`);
    if (agent && !CPU_ONLY) drainShare('docker run', run(FRONT, 'contid'), run(HOST, 'runc'));
    const c = docker(['run', '-d', '--runtime', 'contid', IMAGE, 'sleep', '3600']).stdout.trim();
    const p = docker(['run', '-d', '--runtime', 'runc', IMAGE, 'sleep', '3600']).stdout.trim();
    const exec = (host, id) => () => timed('docker', ['-H', host, 'exec', id, 'true']);
    exec(FRONT, c)();
    exec(HOST, p)(); // warm-up
    if (!CPU_ONLY) {
      report('docker exec C true', pairs(exec(FRONT, c), exec(HOST, p)), 1.05);
      const cSh = docker(['run', '-d', '--runtime', 'contid-sh', IMAGE, 'sleep', '3600']).stdout.trim();
      exec(FRONT, cSh)();
      const shExec = pairs(exec(FRONT, cSh), exec(HOST, p));
      console.log(`  with the sh shim instead (runtime contid-sh): median of pair ratios ${median(shExec.ratios).toFixed(3)}, ratio of medians ${(median(shExec.c) / median(shExec.p)).toFixed(3)}`);
      // The front's own share: the same plain-runc container, through the front or not.
      const front = pairs(exec(FRONT, p), exec(HOST, p));
      console.log(`  the front alone (plain runc container): median of pair ratios ${median(front.ratios).toFixed(3)}, +${f(median(front.c) - median(front.p))} ms`);
      const shimExec = pairs(exec(HOST, c), exec(HOST, p));
      console.log(`  the shim alone (dockerd's socket): median of pair ratios ${median(shimExec.ratios).toFixed(3)}, +${f(median(shimExec.c) - median(shimExec.p))} ms`);
    }
    const [frontExecCpu, agentExecCpu] = cpuPerCall([frontProc.pid, agent?.pid ?? 0], PAIRS, exec(FRONT, c));
    console.log(`  CPU per docker exec: the front ${cpuText(frontExecCpu)}, the agent ${withAgent ? cpuText(agentExecCpu) : 'off'}`);
    if (agent && !CPU_ONLY) drainShare('docker exec', exec(FRONT, c), exec(HOST, p));
    if (CPU_ONLY) return;
    console.log(`the shim's own cost per runc call (median of ${CALLS}, same binary direct vs through the sh shim and the compiled one, alternating):`);
    for (const [label, { direct, via, compiled }] of Object.entries(shimOverhead(join(dir, 'overhead')))) {
      const more = compiled === undefined ? '' : `; compiled ${compiled.toFixed(2)} ms, +${(compiled - direct).toFixed(2)} ms`;
      console.log(`  ${label.padEnd(30)} direct ${direct.toFixed(2)} ms, via the sh ${via.toFixed(2)} ms, +${(via - direct).toFixed(2)} ms (x${(via / direct).toFixed(2)})${more}`);
    }
  } finally {
    agent?.kill('SIGTERM');
    frontProc.kill('SIGTERM');
    for (const id of docker(['ps', '-aq']).stdout.split('\n').filter(Boolean)) docker(['rm', '-f', id]);
    daemon.kill('SIGTERM');
    // All three gone before the next bench may start its own dockerd on the same sockets (and a profile is written).
    await Promise.all([daemon, agent, frontProc].filter(Boolean).map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', r)))));
    rmSync(dir, { recursive: true, force: true });
  }
};
