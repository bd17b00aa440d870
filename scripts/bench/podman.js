// pnpm bench podman: what the contid-runc shim adds to `podman run`. The same podman (storage
// of the bench's own) runs `podman run --rm local/busybox:1 true` with plain runc and through
// the shim (installed with its contid-runc.conf beside it, `contid serve` draining the spool, as
// in production), alternating, and prints the median ratio (target <= 1.05).
const { spawn, spawnSync } = require('node:child_process');
const { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } = require('node:fs');
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
const podman = (args) => spawnSync('podman', ['--root', ROOT, '--runroot', RUNROOT, '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args], { encoding: 'utf8' });

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

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-podman-'));
  const stateDir = join(dir, 'state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const libexec = join(dir, 'libexec');
  mkdirSync(libexec);
  const shim = join(libexec, 'contid-runc');
  copyFileSync(join(REPO, 'integrations/docker/contid-runc'), shim);
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
    run('/usr/sbin/runc');
    run(shim); // warm-up
    const plain = [];
    const through = [];
    const ratios = [];
    const serveCpu = cpuMs(serve.pid);
    for (let i = 0; i < PAIRS; i++) {
      const [a, b] = i % 2 ? [run(shim), run('/usr/sbin/runc')] : [run('/usr/sbin/runc'), run(shim)].reverse();
      through.push(a);
      plain.push(b);
      ratios.push(a / b);
    }
    const f = (x) => x.toFixed(1);
    console.log(`podman run --rm ${IMAGE} true, ${PAIRS} alternating pairs, contid serve draining`);
    console.log(`  plain runc       median ${f(median(plain))} ms`);
    console.log(`  contid-runc shim median ${f(median(through))} ms`);
    console.log(`  ratio shim/runc: median of pair ratios ${median(ratios).toFixed(3)}, ratio of medians ${(median(through) / median(plain)).toFixed(3)} (target <= 1.05)`);
    // The pairs ran synchronously: give serve's log (and any entry still waiting) a moment.
    await sleep(3000);
    console.log(`  contid serve CPU (user + system) ${f((cpuMs(serve.pid) - serveCpu) / PAIRS)} ms per run through the shim (its create and end entries)`);
    const tagged = (serveLog.match(/ create /g) || []).length;
    const ended = (serveLog.match(/ end /g) || []).length;
    console.log(`  contid serve bound ${tagged} creates and ${ended} ends (${PAIRS + 1} runs through the shim)`);
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => (serve.exitCode !== null ? r() : serve.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
};
