// pnpm bench lxc: the cost contid adds to an LXC container's life. One busybox container
// started and stopped with plain LXC (no hooks) against one started by `contid lxc start`
// with contid's start-host and post-stop hooks, measured alternately in the same run.
const { spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const CLI = resolve(__dirname, '../../packages/cli/dist/main.js');
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
  } finally {
    for (const n of [plain, tagged]) {
      spawnSync('lxc-stop', ['-n', n, '-k']);
      spawnSync('lxc-destroy', ['-n', n, '-f']);
    }
    rmSync(dir, { recursive: true, force: true });
  }
};
