// pnpm bench lxc: the cost contid adds to an LXC container's life. One busybox container
// started and stopped with plain LXC (no hooks) against one started by `contid lxc start`
// (contid-lxc-fast, the compiled start the installed launcher runs when it was built — built
// here by scripts/build-lxc-fast.sh — which hands anything else to the sh contid-lxc; attach
// goes to the sh, as the launcher sends it) with contid's start-host hook installed
// (contid-lxc hook, which contid lxc start clears for its own plain starts and spools the init
// itself; the end is contid serve's, from the container's monitor), measured
// alternately in the same run; then
// `lxc-attach -- true` into the plain one against `contid lxc attach` into the tagged one.
// `contid serve` drains the spool throughout, as deployed, and must have bound every start and
// recorded every end.
// The figure is the median of per-round ratios (each round one plain, one contid and one
// no-op-hooks reference cycle, back to back, which goes first rotating), so a load burst that
// spans a round cancels out; the CPU contid serve spent per cycle (its own /proc stat) is
// printed beside it, which moves with the load far less than wall time.
const { spawn, spawnSync } = require('node:child_process');
const { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const CLI = resolve(__dirname, '../../packages/cli/dist/main.js');
const { Registry } = require('../../packages/core/dist');
const CONTID_LXC = resolve(__dirname, '../../integrations/bin/contid-lxc-fast');
const CONTID_LXC_SH = resolve(__dirname, '../../integrations/bin/contid-lxc');
const ROUNDS = Number(process.env.BENCH_ROUNDS || 20);
const TICK_MS = 1000 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

function must(cmd, args, env) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function ms(f) {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

function createContainer(name) {
  must('lxc-create', ['-t', 'busybox', '-n', name]);
  const file = `/var/lib/lxc/${name}/config`;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !/^lxc\.net\.0\.(link|flags)\b/.test(l) && !/^lxc\.apparmor\.allow_nesting\b/.test(l))
    .map((l) => (/^lxc\.net\.0\.type\b/.test(l) ? 'lxc.net.0.type = empty' : /^lxc\.apparmor\.profile\b/.test(l) ? 'lxc.apparmor.profile = unconfined' : l));
  writeFileSync(file, lines.join('\n'));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** CPU time (user + system, ms) a process has used so far, from /proc/PID/stat. */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** Every entry contid-lxc wrote must be bound by contid serve (the fast path, not the Node hand-over). */
function spoolEntries(env) {
  try {
    return readdirSync(join(env.CONTID_STATE_DIR, 'spool')).filter((n) => n.endsWith('.entry'));
  } catch {
    return [];
  }
}

async function attachRows(env, fastEnv, plain, tagged, spooledAttaches, serveLogTail) {
  must('lxc-start', ['-n', plain]);
  must(CONTID_LXC, ['start', tagged], fastEnv);
  // Both inits up (lxc-attach needs them) and the tagged one recorded (contid serve wrote its instance record).
  const record = join(env.CONTID_STATE_DIR, 'lxc', tagged);
  for (let i = 0; i < 100; i++) {
    if (spawnSync('lxc-attach', ['-n', plain, '--', 'true']).status === 0 && existsSync(record) && spoolEntries(env).length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const before = spoolEntries(env).length;
  const times = { plain: [], fast: [], node: [] };
  for (let i = 0; i < ROUNDS * 3; i++) {
    times.plain.push(ms(() => must('lxc-attach', ['-n', plain, '--', 'true'])));
    times.fast.push(ms(() => must(CONTID_LXC_SH, ['attach', tagged, '--', 'true'], fastEnv)));
    if (i % 12 === 0) times.node.push(ms(() => must(process.execPath, [CLI, 'lxc', 'attach', tagged, '--', 'true'], env)));
  }
  for (let i = 0; i < 300 && (spoolEntries(env).length || spooledAttaches() < times.fast.length); i++) await new Promise((r) => setTimeout(r, 100));
  if (spoolEntries(env).length) throw new Error(`contid serve left ${spoolEntries(env).length} attach entries unbound`);
  if (before) throw new Error('the tagged container was not recorded before the attach rounds');
  // Every contid-lxc attach took the sh way (a spooled setns bound by contid serve).
  if (spooledAttaches() !== times.fast.length) throw new Error(`contid serve bound ${spooledAttaches()} spooled attaches of ${times.fast.length}: ${serveLogTail()}`);
  const p = median(times.plain);
  const line = (what, xs) =>
    console.log(`  ${what.padEnd(34)} lxc ${p.toFixed(1).padStart(5)} ms   contid ${median(xs).toFixed(1).padStart(5)} ms   +${(median(xs) - p).toFixed(1)} ms, ratio ${(median(xs) / p).toFixed(2)}x`);
  console.log(`attach -- true, median of ${times.plain.length} interleaved rounds (contid serve draining):`);
  line('contid lxc attach (contid-lxc, sh)', times.fast);
  // Each contid attach against the plain one just before it: the figure (target <= plain + 10 ms).
  const diffs = times.fast.map((x, i) => x - times.plain[i]);
  console.log(`  contid lxc attach - lxc-attach: median of pair differences +${median(diffs).toFixed(1)} ms (target <= +10 ms)`);
  line(`Node contid lxc attach (${times.node.length} rounds)`, times.node);
}

exports.main = async function main() {
  must(resolve(__dirname, '../build-lxc-fast.sh'), [CONTID_LXC]);
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-lxc-'));
  const env = { ...process.env, CONTID_STATE_DIR: join(dir, 'state') };
  const fastEnv = { ...env, CONTID_CLI: `${process.execPath} ${CLI}` };
  let serveLog = '';
  let serve = null;
  const plain = `contid-b-plain-${process.pid}`;
  const tagged = `contid-b-tagged-${process.pid}`;
  // A reference: plain LXC with one no-op hook (start-host = /bin/true), what LXC's own running
  // of contid's one hook costs (a fork and two execs) before anything of contid's runs.
  const noop = `contid-b-noop-${process.pid}`;
  const times = { plainStart: [], plainStop: [], taggedStart: [], taggedStop: [], noopStart: [], noopStop: [] };
  try {
    createContainer(plain);
    createContainer(tagged);
    createContainer(noop);
    appendFileSync(`/var/lib/lxc/${noop}/config`, '\nlxc.hook.start-host = /bin/true\n');
    must(process.execPath, [CLI, 'install', 'lxc', tagged], env);
    serve = spawn(process.execPath, [CLI, 'serve', '--socket', join(dir, 'serve.sock')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    serve.stderr.on('data', (d) => (serveLog += d));
    // Deployed, contid serve is already running: measure from its first drain pass on.
    for (let i = 0; i < 600 && !serveLog.includes('contid serve: draining'); i++) await new Promise((r) => setTimeout(r, 100));
    const plainCycle = () => {
      times.plainStart.push(ms(() => must('lxc-start', ['-n', plain])));
      times.plainStop.push(ms(() => must('lxc-stop', ['-n', plain, '-k'])));
    };
    const taggedCycle = () => {
      times.taggedStart.push(ms(() => must(CONTID_LXC, ['start', tagged], fastEnv)));
      times.taggedStop.push(ms(() => must('lxc-stop', ['-n', tagged, '-k'])));
    };
    const noopCycle = () => {
      times.noopStart.push(ms(() => must('lxc-start', ['-n', noop])));
      times.noopStop.push(ms(() => must('lxc-stop', ['-n', noop, '-k'])));
    };
    // One warm-up cycle each (page cache, LXC's first cgroup set-up), not counted.
    const cycles = [taggedCycle, plainCycle, noopCycle];
    for (const c of cycles) c();
    for (const k of Object.keys(times)) times[k].length = 0;
    const serveCpu = cpuMs(serve.pid);
    // Which goes first rotates, so neither the plain nor the contid cycle always follows the other.
    for (let i = 0; i < ROUNDS; i++) for (let j = 0; j < cycles.length; j++) cycles[(i + j) % cycles.length]();
    // Every start went the sh way (a spooled create bound by contid serve), none through Node.
    const createdCount = () => serveLog.split('\n').filter((l) => l.startsWith(`contid serve: create ${tagged} `)).length;
    // Ended rows (contid serve's end from the monitor, or — when it was behind — the next create's "re-created").
    const endedCount = () => {
      const registry = Registry.open(env.CONTID_STATE_DIR, { readonly: true });
      try {
        return registry.list({ orchestrator: 'lxc', state: 'ended' }).filter((c) => c.runtimeId === tagged).length;
      } finally {
        registry.close();
      }
    };
    for (let i = 0; i < 300 && (spoolEntries(env).length || createdCount() < ROUNDS + 1 || endedCount() < ROUNDS + 1); i++) await new Promise((r) => setTimeout(r, 100));
    const created = createdCount();
    const serveCpuPerCycle = (cpuMs(serve.pid) - serveCpu) / ROUNDS;
    if (created !== ROUNDS + 1) throw new Error(`contid serve bound ${created} spooled starts of ${ROUNDS + 1}: ${serveLog}`);
    if (endedCount() !== ROUNDS + 1) throw new Error(`contid serve recorded ${endedCount()} ends of ${ROUNDS + 1}: ${serveLog.slice(-1500)}`);
    const row = (what, base, ours) =>
      console.log(`  ${what.padEnd(34)} lxc ${median(base).toFixed(0).padStart(5)} ms   contid ${median(ours).toFixed(0).padStart(5)} ms   ratio ${(median(ours) / median(base)).toFixed(2)}x`);
    console.log(`LXC busybox container, median of ${ROUNDS} interleaved rounds (plain LXC vs contid-lxc-fast start, contid's start-host hook installed, contid serve draining)`);
    row('start (lxc-start vs contid lxc start)', times.plainStart, times.taggedStart);
    row('stop -k', times.plainStop, times.taggedStop);
    const cycle = (a, b) => a.map((x, i) => x + b[i]);
    const plainCycles = cycle(times.plainStart, times.plainStop);
    const taggedCycles = cycle(times.taggedStart, times.taggedStop);
    row('start + stop', plainCycles, taggedCycles);
    const ratios = taggedCycles.map((x, i) => x / plainCycles[i]);
    console.log(`  start + stop: median of ${ROUNDS} round ratios ${median(ratios).toFixed(2)}x (target <= 1.3x)`);
    const noopRatios = cycle(times.noopStart, times.noopStop).map((x, i) => x / plainCycles[i]);
    console.log(`  reference, plain LXC with one no-op hook (start-host = /bin/true): median of round ratios ${median(noopRatios).toFixed(2)}x`);
    console.log(`  contid serve CPU (user + system) ${serveCpuPerCycle.toFixed(1)} ms per contid cycle (2 spool entries: create, init; the end from the monitor)`);

    await attachRows(env, fastEnv, plain, tagged, () => serveLog.split('\n').filter((l) => l.startsWith(`contid serve: setns ${tagged} `)).length, () => serveLog.slice(-1500));
  } finally {
    if (serve) {
      serve.kill('SIGTERM');
      await new Promise((r) => (serve.exitCode !== null ? r() : serve.once('exit', r)));
    }
    for (const n of [plain, tagged, noop]) {
      spawnSync('lxc-stop', ['-n', n, '-k']);
      spawnSync('lxc-destroy', ['-n', n, '-f']);
    }
    rmSync(dir, { recursive: true, force: true });
  }
};
