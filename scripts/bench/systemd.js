// pnpm bench systemd: the cost contid adds to a systemd unit's life. A Type=oneshot unit
// running /bin/true, plain against the same unit with the drop-in `contid install systemd`
// writes (ExecStart= through contid exec --systemd, ExecStopPost= contid systemd end), each
// `systemctl start` timed to the unit's end, alternately, in one real systemd (PID 1 of a
// systemd-nspawn guest booted from the bookworm tree the systemd tests cache).
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../..');
const CLI = join(REPO, 'packages/cli/dist/main.js');
const TREE = process.env.CONTID_TEST_BOOKWORM || '/var/cache/contid-test/bookworm';
const ROUNDS = Number(process.env.BENCH_ROUNDS || 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

exports.main = async function main() {
  if (!existsSync(`${TREE}/usr/lib/systemd/systemd`)) throw new Error(`no bookworm tree at ${TREE}: run npx jest --runInBand test/systemd once to build it`);
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-systemd-'));
  const node = process.execPath;
  const nspawn = spawn(
    'systemd-nspawn',
    ['-D', TREE, '--volatile=overlay', '--register=no', '--keep-unit', '--boot', '-M', `contid-bench-${process.pid}`,
      `--bind-ro=${REPO}`, `--bind-ro=${dirname(node) === '/usr/bin' ? node : dirname(node)}`, `--bind=${dir}:/var/lib/contid-bench`],
    { env: { ...process.env, SYSTEMD_SECCOMP: '0' }, stdio: 'ignore' }, // see test/systemd/nspawn-host.ts
  );
  try {
    let init;
    for (let i = 0; i < 200 && !init; i++, await sleep(100)) init = children(nspawn.pid).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd');
    if (!init) throw new Error('nspawn did not start systemd');
    const guest = (args) => spawnSync('nsenter', ['-t', String(init), '-a', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...args], { encoding: 'utf8' });
    for (let i = 0; i < 300 && !/running|degraded/.test(guest(['systemctl', 'is-system-running', '--wait']).stdout); i++) await sleep(100);
    const unit = '[Service]\nType=oneshot\nExecStart=/bin/true\n';
    for (const name of ['plain', 'tagged']) guest(['sh', '-c', `printf '${unit.replace(/\n/g, '\\n')}' > /etc/systemd/system/bench-${name}.service`]);
    const install = guest(['env', 'CONTID_STATE_DIR=/var/lib/contid-bench/state', node, CLI, 'install', 'systemd', 'bench-tagged.service']);
    if (install.status !== 0) throw new Error(install.stderr);
    guest(['systemctl', 'daemon-reload']);
    const times = { plain: [], tagged: [] };
    for (let i = 0; i < ROUNDS; i++) {
      for (const name of ['plain', 'tagged']) {
        const t = process.hrtime.bigint();
        const r = guest(['systemctl', 'start', `bench-${name}.service`]);
        if (r.status !== 0) throw new Error(`bench-${name}.service: ${r.stderr}`);
        times[name].push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }
    const plain = median(times.plain);
    const tagged = median(times.tagged);
    process.stdout.write(
      `systemd oneshot unit start-to-end, median of ${ROUNDS} (systemctl start via nsenter):\n` +
        `  plain unit              ${plain.toFixed(1)} ms\n` +
        `  contid drop-in          ${tagged.toFixed(1)} ms   ratio ${(tagged / plain).toFixed(2)}x (+${(tagged - plain).toFixed(0)} ms: two Node starts, exec --systemd and systemd end)\n`,
    );
  } finally {
    nspawn.kill('SIGTERM');
    await new Promise((r) => (nspawn.exitCode !== null ? r() : nspawn.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
};
