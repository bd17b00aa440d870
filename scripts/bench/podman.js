// pnpm bench podman: what the contid-runc shim adds to `podman run`. The same podman (storage
// of the bench's own) runs `podman run --rm local/busybox:1 true` with plain runc, through the
// compiled shim contid-runc-fast as docs/podman.md installs it (the sh and contid-runc.conf
// beside it, `contid serve` draining the spool) and through the sh contid-runc of the same
// install, in rotating order, and prints the median ratios to plain runc (target <= 1.05).
const { spawn, spawnSync } = require('node:child_process');
const { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../..');
const CLI = join(REPO, 'packages/cli/dist/main.js');
const PAIRS = Number(process.env.BENCH_PAIRS || 30);
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** CPU time (user + system, ms) a process has used so far, from /proc/PID/stat. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}
const ROOT = '/var/lib/contid-bench-podman';
const RUNROOT = '/run/contid-bench-podman';
const IMAGE = 'local/busybox:1';
// This VM's hard limit on open files is below Podman's default: ask for what it has.
const LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none'];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const GLOBAL = ['--root', ROOT, '--runroot', RUNROOT, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file'];
const podman = (args) => spawnSync('podman', [...GLOBAL, ...args], { encoding: 'utf8' });
const CPU_ROUNDS = Number(process.env.BENCH_CPU_ROUNDS || 30);

/** CPU (task-clock, ms) of one podman run --rm and every process it starts (conmon, the runtime, the shim). */
function cpuOfRun(runtime) {
  const r = spawnSync('perf', ['stat', '-x,', '-e', 'task-clock', '--', 'podman', ...GLOBAL, '--runtime', runtime, 'run', '--rm', ...LIMITS, IMAGE, 'true'], { encoding: 'utf8' });
  const line = r.stderr.split('\n').find((l) => l.includes('task-clock'));
  if (r.status !== 0 || !line) throw new Error(`perf stat podman run: ${r.stderr}`);
  return Number(line.split(',')[0]);
}

function timedPodman(args) {
  const t = process.hrtime.bigint();
  const r = podman(args);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`podman ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function importImage(dir) {
  if (podman(['image', 'exists', IMAGE]).status === 0) return;
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  writeFileSync(join(rootfs, 'bin', 'busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
  for (const tool of ['sh', 'true', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', tool));
  const r = spawnSync('sh', ['-c', `tar -C ${rootfs} -c . | podman --root ${ROOT} --runroot ${RUNROOT} import - ${IMAGE}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`podman import: ${r.stderr}`);
}

const CALLS = Number(process.env.BENCH_CALLS || 200);

/** CPU time (ms) of this process's waited-for children so far (cutime + cstime). */
function childrenCpuMs() {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

/** Wall time of one call; its CPU (the shim and the runtime it became) added to cpu.ms. */
function timedCall(file, args, env, cpu) {
  const c = childrenCpuMs();
  const t = process.hrtime.bigint();
  const r = spawnSync(file, args, { env, stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  cpu.ms += childrenCpuMs() - c;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}`);
  return ms;
}

/**
 * Each shim's own cost on the runtime calls Podman makes (conmon's create, podman's start and
 * delete --force, an exec), installed as for Podman with a contid-runc.conf beside it: the same
 * stand-in runtime (/bin/true) called directly, through the compiled shim and through the sh,
 * alternating. Its spool is its own (not serve's).
 */
function shimOverhead(dir) {
  const libexec = join(dir, 'libexec');
  const stateDir = join(dir, 'state');
  mkdirSync(join(stateDir, 'spool'), { recursive: true, mode: 0o700 });
  mkdirSync(libexec);
  const sh = join(libexec, 'contid-runc');
  const fast = join(libexec, 'contid-runc-fast');
  copyFileSync(join(REPO, 'integrations/docker/contid-runc'), sh);
  copyFileSync(join(REPO, 'integrations/bin/contid-tag.sh'), join(libexec, 'contid-tag.sh'));
  if (spawnSync(join(REPO, 'scripts/build-shim.sh'), [fast]).status !== 0) throw new Error('scripts/build-shim.sh failed');
  writeFileSync(join(libexec, 'contid-runc.conf'), `CONTID_FAIL_POLICY=open\nCONTID_STATE_DIR=${stateDir}\n`);
  const bundle = join(dir, 'bundle');
  mkdirSync(bundle);
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', process: { args: ['true'] }, root: { path: 'rootfs' }, annotations: { 'io.container.manager': 'libpod' } }));
  writeFileSync(join(bundle, 'process.json'), JSON.stringify({ user: { uid: 0, gid: 0 }, args: ['true'], cwd: '/' }));
  const id = 'ab'.repeat(32);
  const env = { PATH: process.env.PATH, CONTID_RUNTIME: '/bin/true' }; // conmon's environment has no CONTID_* settings
  const cases = {
    create: ['create', '--bundle', bundle, '--pid-file', join(bundle, 'pidfile'), id],
    start: ['start', id],
    exec: ['exec', '--pid-file', join(bundle, 'exec_pid'), '--process', join(bundle, 'process.json'), '--detach', id],
    'delete --force': ['delete', '--force', id],
  };
  const out = {};
  for (const [label, args] of Object.entries(cases)) {
    const t = { direct: [], fast: [], sh: [] };
    const cpu = { direct: { ms: 0 }, fast: { ms: 0 }, sh: { ms: 0 } };
    for (let i = 0; i < CALLS; i++) {
      t.direct.push(timedCall('/bin/true', args, env, cpu.direct));
      t.fast.push(timedCall(fast, args, env, cpu.fast));
      t.sh.push(timedCall(sh, args, env, cpu.sh));
      // Nothing drains this spool: empty it, as serve keeps it (a delete looks for waiting creates).
      for (const f of readdirSync(join(stateDir, 'spool'))) rmSync(join(stateDir, 'spool', f));
    }
    const per = (k) => cpu[k].ms / CALLS;
    out[label] = { direct: median(t.direct), fast: median(t.fast), sh: median(t.sh), cpu: { direct: per('direct'), fast: per('fast'), sh: per('sh') } };
  }
  return out;
}

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-podman-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const libexec = join(dir, 'libexec');
  mkdirSync(libexec);
  const sh = join(libexec, 'contid-runc');
  copyFileSync(join(REPO, 'integrations/docker/contid-runc'), sh);
  const shim = join(libexec, 'contid-runc-fast');
  const built = spawnSync(join(REPO, 'scripts/build-shim.sh'), [shim], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`scripts/build-shim.sh: ${built.stderr}`);
  copyFileSync(join(REPO, 'integrations/bin/contid-tag.sh'), join(libexec, 'contid-tag.sh'));
  writeFileSync(join(libexec, 'contid-runc.conf'), `CONTID_STATE_DIR=${stateDir}\n`);
  importImage(dir);
  let serveLog = '';
  const serve = spawn(process.execPath, [CLI, 'serve', '--socket', join(dir, 'serve.sock')], { env: { ...process.env, CONTID_STATE_DIR: stateDir }, stdio: ['ignore', 'ignore', 'pipe'] });
  serve.stderr.on('data', (d) => (serveLog += d));
  try {
    for (let i = 0; !/draining/.test(serveLog); i++) {
      if (serve.exitCode !== null || i > 300) throw new Error(`contid serve did not start: ${serveLog}`);
      await sleep(100);
    }
    const run = (runtime) => timedPodman(['--runtime', runtime, 'run', '--rm', ...LIMITS, IMAGE, 'true']);
    const runtimes = { plain: '/usr/sbin/runc', fast: shim, sh };
    for (const r of Object.values(runtimes)) run(r); // warm-up
    const times = { plain: [], fast: [], sh: [] };
    const ratios = { fast: [], sh: [] };
    const serveCpu = cpuMs(serve.pid);
    const kinds = Object.keys(runtimes);
    for (let i = 0; i < PAIRS; i++) {
      // Each runtime first, second and third in turn, so none always follows another.
      const order = [...kinds.slice(i % 3), ...kinds.slice(0, i % 3)];
      if (i % 6 >= 3) order.reverse();
      const ms = {};
      for (const k of order) ms[k] = run(runtimes[k]);
      for (const k of kinds) times[k].push(ms[k]);
      ratios.fast.push(ms.fast / ms.plain);
      ratios.sh.push(ms.sh / ms.plain);
    }
    const f = (x) => x.toFixed(1);
    const ratio = (k) => `median of pair ratios ${median(ratios[k]).toFixed(3)}, ratio of medians ${(median(times[k]) / median(times.plain)).toFixed(3)}`;
    console.log(`podman run --rm ${IMAGE} true, ${PAIRS} rounds of plain runc / compiled shim / sh shim in rotating order, contid serve draining`);
    console.log(`  plain runc                         median ${f(median(times.plain))} ms`);
    console.log(`  contid-runc-fast (as installed)    median ${f(median(times.fast))} ms`);
    console.log(`  contid-runc (the sh, same install) median ${f(median(times.sh))} ms`);
    console.log(`  ratio compiled/runc: ${ratio('fast')} (target <= 1.05)`);
    console.log(`  ratio sh/runc:       ${ratio('sh')}`);
    // The runs were synchronous: give serve's log (and any entry still waiting) a moment.
    await sleep(3000);
    console.log(`  contid serve CPU (user + system) ${f((cpuMs(serve.pid) - serveCpu) / (2 * PAIRS))} ms per run through a shim (its create and end entries)`);
    const tagged = (serveLog.match(/ create /g) || []).length;
    const ended = (serveLog.match(/ end /g) || []).length;
    console.log(`  contid serve bound ${tagged} creates and ${ended} ends (${2 * PAIRS + 2} runs through a shim)`);
    // CPU rather than wall: what the load of others' runs moves far less. Without perf: skipped.
    if (spawnSync('perf', ['--version']).status === 0) {
      const cpu = { plain: [], fast: [], sh: [] };
      const cpuRatios = { fast: [], sh: [] };
      for (let i = 0; i < CPU_ROUNDS; i++) {
        const order = [...kinds.slice(i % 3), ...kinds.slice(0, i % 3)];
        const ms = {};
        for (const k of order) ms[k] = cpuOfRun(runtimes[k]);
        for (const k of kinds) cpu[k].push(ms[k]);
        cpuRatios.fast.push(ms.fast / ms.plain);
        cpuRatios.sh.push(ms.sh / ms.plain);
      }
      const plus = (k) => `+${f(median(cpu[k]) - median(cpu.plain))} ms, median of round ratios ${median(cpuRatios[k]).toFixed(3)}`;
      console.log(`CPU per podman run --rm (perf stat task-clock of podman and all it starts; serve's not included), ${CPU_ROUNDS} rotating rounds:`);
      console.log(`  plain runc median ${f(median(cpu.plain))} ms; compiled ${plus('fast')}; sh ${plus('sh')}`);
    }
    console.log(`each shim's own cost per runtime call as Podman makes it (/bin/true direct vs through each, ${CALLS} calls alternating, contid-runc.conf beside them; wall: medians, CPU: the calls' user + system over ${CALLS}):`);
    for (const [label, { direct, fast, sh: viaSh, cpu }] of Object.entries(shimOverhead(join(dir, 'overhead')))) {
      const plus = (x, base) => `+${(x - base).toFixed(2)}`;
      console.log(`  ${label.padEnd(15)} wall: direct ${direct.toFixed(2)} ms, compiled ${plus(fast, direct)}, sh ${plus(viaSh, direct)}; CPU: direct ${cpu.direct.toFixed(2)} ms, compiled ${plus(cpu.fast, cpu.direct)}, sh ${plus(cpu.sh, cpu.direct)}`);
    }
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => (serve.exitCode !== null ? r() : serve.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
};
