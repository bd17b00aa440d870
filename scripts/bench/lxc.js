// pnpm bench lxc: the cost contid adds to an LXC container's life. One busybox container
// started and stopped with plain LXC (no hooks) against one started by `contid lxc start`
// with contid's start-host and post-stop hooks, measured alternately in the same run; then
// `lxc-attach -- true` into the plain one against `contid lxc attach` (contid-lxc, the sh
// fast path, as the installed launcher runs it) into the tagged one, with `contid serve`
// draining the spool as deployed.
const { spawn, spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const CLI = resolve(__dirname, '../../packages/cli/dist/main.js');
const CONTID_LXC = resolve(__dirname, '../../integrations/bin/contid-lxc');
const ROUNDS = Number(process.env.BENCH_ROUNDS || 10);

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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Every entry contid-lxc wrote must be bound by contid serve (the fast path, not the Node hand-over). */
function spoolEntries(env) {
  try {
    return readdirSync(join(env.CONTID_STATE_DIR, 'spool')).filter((n) => n.endsWith('.entry'));
  } catch {
    return [];
  }
}

async function attachRows(env, plain, tagged, dir) {
  must('lxc-start', ['-n', plain]);
  must(process.execPath, [CLI, 'lxc', 'start', tagged], env);
  const fastEnv = { ...env, CONTID_CLI: `${process.execPath} ${CLI}` };
  // Both inits up (lxc-attach needs them), and the first attach proves the fast path: it spools.
  for (let i = 0; i < 100; i++) {
    if (spawnSync('lxc-attach', ['-n', plain, '--', 'true']).status === 0 && spawnSync('lxc-attach', ['-n', tagged, '--', 'true']).status === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  must(CONTID_LXC, ['attach', tagged, '--', 'true'], fastEnv);
  if (!spoolEntries(env).some((n) => /-setns-/.test(n))) throw new Error('contid-lxc attach did not take the fast path (no spool entry): is the start-host hook installed?');
  const serve = spawn(process.execPath, [CLI, 'serve', '--socket', join(dir, 'serve.sock')], { env, stdio: 'ignore' });
  try {
    const times = { plain: [], fast: [], node: [] };
    for (let i = 0; i < ROUNDS * 3; i++) {
      times.plain.push(ms(() => must('lxc-attach', ['-n', plain, '--', 'true'])));
      times.fast.push(ms(() => must(CONTID_LXC, ['attach', tagged, '--', 'true'], fastEnv)));
      if (i % 3 === 0) times.node.push(ms(() => must(process.execPath, [CLI, 'lxc', 'attach', tagged, '--', 'true'], env)));
    }
    for (let i = 0; i < 300 && spoolEntries(env).length; i++) await new Promise((r) => setTimeout(r, 100));
    if (spoolEntries(env).length) throw new Error(`contid serve left ${spoolEntries(env).length} attach entries unbound`);
    const p = median(times.plain);
    const line = (what, xs) =>
      console.log(`  ${what.padEnd(34)} lxc ${p.toFixed(1).padStart(5)} ms   contid ${median(xs).toFixed(1).padStart(5)} ms   +${(median(xs) - p).toFixed(1)} ms, ratio ${(median(xs) / p).toFixed(2)}x`);
    console.log(`attach -- true, median of ${times.plain.length} interleaved rounds (contid serve draining):`);
    line('contid lxc attach (contid-lxc, sh)', times.fast);
    line(`Node contid lxc attach (${times.node.length} rounds)`, times.node);
  } finally {
    serve.kill('SIGTERM');
    await new Promise((r) => (serve.exitCode !== null ? r() : serve.once('exit', r)));
  }
}

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-lxc-'));
  const env = { ...process.env, CONTID_STATE_DIR: join(dir, 'state') };
  const plain = `contid-b-plain-${process.pid}`;
  const tagged = `contid-b-tagged-${process.pid}`;
  const times = { plainStart: [], plainStop: [], taggedStart: [], taggedStop: [] };
  try {
    createContainer(plain);
    createContainer(tagged);
    must(process.execPath, [CLI, 'install', 'lxc', tagged], env);
    for (let i = 0; i < ROUNDS; i++) {
      times.plainStart.push(ms(() => must('lxc-start', ['-n', plain])));
      times.plainStop.push(ms(() => must('lxc-stop', ['-n', plain, '-k'])));
      times.taggedStart.push(ms(() => must(process.execPath, [CLI, 'lxc', 'start', tagged], env)));
      times.taggedStop.push(ms(() => must('lxc-stop', ['-n', tagged, '-k'])));
    }
    const row = (what, base, ours) =>
      console.log(`  ${what.padEnd(34)} lxc ${median(base).toFixed(0).padStart(5)} ms   contid ${median(ours).toFixed(0).padStart(5)} ms   ratio ${(median(ours) / median(base)).toFixed(2)}x`);
    console.log(`LXC busybox container, median of ${ROUNDS} rounds (plain LXC vs contid wrapper + hooks, same run)`);
    row('start (lxc-start vs contid lxc start)', times.plainStart, times.taggedStart);
    row('stop -k (post-stop hook)', times.plainStop, times.taggedStop);
    const cycle = (a, b) => a.map((x, i) => x + b[i]);
    row('start + stop', cycle(times.plainStart, times.plainStop), cycle(times.taggedStart, times.taggedStop));

    await attachRows(env, plain, tagged, dir);
  } finally {
    for (const n of [plain, tagged]) {
      spawnSync('lxc-stop', ['-n', n, '-k']);
      spawnSync('lxc-destroy', ['-n', n, '-f']);
    }
    rmSync(dir, { recursive: true, force: true });
  }
};
