// pnpm bench systemd: the cost contid adds to a systemd unit's life. A Type=oneshot unit
// running /bin/true, plain against the same unit with the drop-in contid's generator writes
// (ExecStart= through contid-systemd exec, ExecStopPost=+contid-systemd end: POSIX sh, a spool
// entry each, no Node), each `systemctl start` timed to the unit's end, in interleaved pairs,
// in one real systemd (PID 1 of a systemd-nspawn guest booted from the bookworm tree the
// systemd tests cache). `contid serve` runs in the guest, as deployed, and must have bound
// every start and end. Printed: the medians, and the median of the pairs' ratios.
// Then a confined unit (User=nobody, PrivateNetwork=yes, /bin/sleep): `systemctl start` and
// `stop` timed together, plain against the drop-in (ExecStart= renews only, ExecStartPost=+
// contid-systemd bind spools $MAINPID for serve) and against the same unit with the Node
// `contid systemd bind` in ExecStartPost=+ that contid used before, in rotating order.
const { spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
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

function must(r, what) {
  if (r.status !== 0) throw new Error(`${what}: ${r.stderr}`);
  return r;
}

/**
 * The confined unit three ways, each `systemctl start` + `stop` timed together (a Type=simple
 * start returns once ExecStartPost= is done): plain; the drop-in contid's generator writes;
 * the same unit with the Node bind line contid's generator wrote before (written out by hand).
 */
async function confinedPairs({ guest, dir, node, state, start, stop }) {
  const body = '[Service]\nUser=nobody\nPrivateNetwork=yes\nExecStart=/bin/sleep 600\n';
  const wrapper = `${REPO}/integrations/bin/contid-systemd --state-dir ${state} --cli ${node} ${CLI}`;
  const before = [
    '[Service]', 'User=nobody', 'PrivateNetwork=yes',
    `ExecStart=${wrapper} exec --renew-only --unit %n -- /bin/sleep 600`,
    `ExecStartPost=+${node} ${CLI} --state-dir ${state} systemd bind --unit %n`,
    `ExecStopPost=+${wrapper} end --unit %n`, '',
  ].join('\n');
  for (const [name, text] of [['cplain', body], ['csh', body], ['cnode', before]]) {
    writeFileSync(join(dir, `bench-${name}.service`), text);
    must(guest(['cp', `/var/lib/contid-bench/bench-${name}.service`, '/etc/systemd/system/']), name);
  }
  must(guest(['env', `CONTID_STATE_DIR=${state}`, node, CLI, 'install', 'systemd', 'bench-csh.service']), 'install');
  must(guest(['systemctl', 'daemon-reload']), 'daemon-reload');
  const cycle = (name) => {
    const t = process.hrtime.bigint();
    start(name);
    stop(name);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const names = ['cplain', 'csh', 'cnode'];
  names.forEach(cycle); // warm
  const times = { cplain: [], csh: [], cnode: [] };
  const shRatios = [];
  const nodeRatios = [];
  for (let i = 0; i < ROUNDS; i++) {
    const t = {};
    for (let k = 0; k < 3; k++) {
      const name = names[(i + k) % 3];
      t[name] = cycle(name);
      times[name].push(t[name]);
    }
    shRatios.push(t.csh / t.cplain);
    nodeRatios.push(t.cnode / t.cplain);
  }
  return { plain: median(times.cplain), sh: median(times.csh), node: median(times.cnode), shRatio: median(shRatios), nodeRatio: median(nodeRatios) };
}

/**
 * Boots the bookworm tree as a systemd guest (PID 1 with the unset loginuid, as on a real
 * host; else every unit inherits this shell's session), runs `body(guest, dir)` with a command
 * runner in the guest, and stops it.
 */
async function withGuest(body) {
  if (!existsSync(`${TREE}/usr/lib/systemd/systemd`)) throw new Error(`no bookworm tree at ${TREE}: run npx jest --runInBand test/systemd once to build it`);
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-systemd-'));
  const node = process.execPath;
  const nspawn = spawn(
    'sh',
    ['-c', 'echo 4294967295 > /proc/self/loginuid 2>/dev/null; exec systemd-nspawn "$@"', 'sh', '-D', TREE, '--volatile=overlay', '--register=no', '--keep-unit', '--boot', '-M', `contid-bench-${process.pid}`,
      `--bind-ro=${REPO}`, `--bind-ro=${dirname(node) === '/usr/bin' ? node : dirname(node)}`, `--bind=${dir}:/var/lib/contid-bench`],
    { env: { ...process.env, SYSTEMD_SECCOMP: '0' }, stdio: 'ignore' }, // see test/systemd/nspawn-host.ts
  );
  try {
    let init;
    for (let i = 0; i < 200 && !init; i++, await sleep(100)) init = children(nspawn.pid).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd');
    if (!init) throw new Error('nspawn did not start systemd');
    const guest = (args, input) => spawnSync('nsenter', ['-t', String(init), '-a', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...args], { encoding: 'utf8', input });
    for (let i = 0; i < 300 && !/running|degraded/.test(guest(['systemctl', 'is-system-running', '--wait']).stdout); i++) await sleep(100);
    await body(guest, dir);
  } finally {
    nspawn.kill('SIGTERM');
    await new Promise((r) => (nspawn.exitCode !== null ? r() : nspawn.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `pnpm bench systemd phases`: where a oneshot start's time goes, by systemd's own clock
 * (the unit's monotonic timestamps: the main line from its fork to its exit, then the stop
 * lines until the unit is inactive) — without the nsenter + systemctl round trip every
 * `systemctl start` pays alike. Units: plain; with ExecStopPost=+/bin/true (systemd's cost of
 * one more line); both lines as bare dash (`sh -c`); each of contid-systemd's two lines alone;
 * the whole drop-in. contid serve does not run (the entries wait): the hot path alone.
 */
async function phases(guest) {
  const W = `${REPO}/integrations/bin/contid-systemd --state-dir /var/lib/contid-bench/state --cli ${process.execPath} ${CLI}`;
  const units = {
    plain: 'ExecStart=/bin/true',
    stoppost: 'ExecStart=/bin/true\nExecStopPost=+/bin/true',
    dash: "ExecStart=/bin/sh -c 'exec /bin/true'\nExecStopPost=+/bin/sh -c :",
    'exec-line': `ExecStart=${W} exec --unit %n -- /bin/true`,
    'end-line': `ExecStart=/bin/true\nExecStopPost=+${W} end --unit %n`,
    tagged: `ExecStart=${W} exec --unit %n -- /bin/true\nExecStopPost=+${W} end --unit %n`,
  };
  const names = Object.keys(units);
  for (const [name, lines] of Object.entries(units)) {
    // StartLimitIntervalSec=0: these units are kept loaded (below), so systemd's start limit would count their starts.
    must(guest(['sh', '-c', `cat > /etc/systemd/system/phase-${name}.service`], `[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=oneshot\n${lines}\n`), name);
  }
  // Wanted by an active unit, so an inactive one is not unloaded and its timestamps stay readable.
  guest(['sh', '-c', `mkdir -p /etc/systemd/system/multi-user.target.d && printf '[Unit]\nWants=${names.map((n) => `phase-${n}.service`).join(' ')}\n' > /etc/systemd/system/multi-user.target.d/phase.conf`]);
  must(guest(['systemctl', 'daemon-reload']), 'daemon-reload');
  const props = ['InactiveExitTimestampMonotonic', 'ExecMainStartTimestampMonotonic', 'ExecMainExitTimestampMonotonic', 'InactiveEnterTimestampMonotonic'];
  const run = (name) => {
    must(guest(['systemctl', 'start', `phase-${name}.service`]), name);
    const shown = must(guest(['systemctl', 'show', ...props.flatMap((p) => ['-p', p]), `phase-${name}.service`]), name).stdout;
    const t = Object.fromEntries(shown.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), Number(l.slice(l.indexOf('=') + 1)) / 1000]));
    return { main: t.ExecMainExitTimestampMonotonic - t.ExecMainStartTimestampMonotonic, stop: t.InactiveEnterTimestampMonotonic - t.ExecMainExitTimestampMonotonic, total: t.InactiveEnterTimestampMonotonic - t.InactiveExitTimestampMonotonic };
  };
  names.forEach(run); // warm
  const got = Object.fromEntries(names.map((n) => [n, []]));
  for (let i = 0; i < ROUNDS; i++) names.forEach((_, k) => got[names[(i + k) % names.length]].push(run(names[(i + k) % names.length])));
  const m = (name, f) => median(got[name].map((x) => x[f])).toFixed(2).padStart(6);
  process.stdout.write(
    `systemd oneshot start by systemd's own clock (ms, medians of ${ROUNDS} rounds, order rotating; contid serve not running):\n` +
      `  unit         main line  stop lines  start to inactive\n` +
      names.map((n) => `  ${n.padEnd(11)}  ${m(n, 'main')}     ${m(n, 'stop')}      ${m(n, 'total')}\n`).join(''),
  );
}

exports.main = async function main(args = []) {
  if (args[0] === 'phases') return withGuest(phases);
  return withGuest(async (guest, dir) => {
    const node = process.execPath;
    const unit = '[Service]\nType=oneshot\nExecStart=/bin/true\n';
    for (const name of ['plain', 'tagged']) guest(['sh', '-c', `printf '${unit.replace(/\n/g, '\\n')}' > /etc/systemd/system/bench-${name}.service`]);
    // What systemd itself charges for one more line like contid's ExecStopPost=+ (a process forked and exec'd).
    const extra = `${unit}ExecStopPost=+/bin/true\n`;
    guest(['sh', '-c', `printf '${extra.replace(/\n/g, '\\n')}' > /etc/systemd/system/bench-stoppost.service`]);
    const state = '/var/lib/contid-bench/state';
    const install = guest(['env', `CONTID_STATE_DIR=${state}`, node, CLI, 'install', 'systemd', 'bench-tagged.service']);
    if (install.status !== 0) throw new Error(install.stderr);
    guest(['systemctl', 'daemon-reload']);
    const serve = guest(['systemd-run', '--unit=contid-bench-serve', '--property=Type=exec', node, CLI, '--state-dir', state, 'serve', '--socket', '/run/contid-bench.sock']);
    if (serve.status !== 0) throw new Error(serve.stderr);
    const serveLog = () => guest(['journalctl', '-u', 'contid-bench-serve', '--no-pager', '-o', 'cat']).stdout;
    for (let i = 0; i < 300 && !serveLog().includes('contid serve: draining'); i++) await sleep(100);
    const start = (name) => {
      const t = process.hrtime.bigint();
      const r = guest(['systemctl', 'start', `bench-${name}.service`]);
      if (r.status !== 0) throw new Error(`bench-${name}.service: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t) / 1e6;
    };
    for (const name of ['plain', 'tagged', 'stoppost']) start(name); // warm (the first start loads the unit)
    /** ROUNDS interleaved pairs: the medians and the median of the pairs' ratios. */
    const pairs = (withStopPost = false) => {
      const times = { plain: [], tagged: [], stoppost: [] };
      const ratios = [];
      for (let i = 0; i < ROUNDS; i++) {
        // Alternate which goes first, so neither always follows the other's after-work.
        let p;
        let t;
        if (i % 2) {
          p = start('plain');
          t = start('tagged');
        } else {
          t = start('tagged');
          p = start('plain');
        }
        times.plain.push(p);
        times.tagged.push(t);
        if (withStopPost) times.stoppost.push(start('stoppost'));
        ratios.push(t / p);
      }
      return { plain: median(times.plain), tagged: median(times.tagged), ratio: median(ratios), stoppost: times.stoppost.length ? median(times.stoppost) : null };
    };
    // Every tagged start was bound and ended by contid serve from the spool (none through Node).
    const count = (op) => serveLog().split('\n').filter((l) => new RegExp(`^contid serve: ${op} [0-9a-f]{32} -> contid`).test(l)).length;
    const allBound = async (n, ends = n) => {
      for (let i = 0; i < 600 && (count('create') < n || count('end') < ends); i++) await sleep(100);
      if (count('create') !== n || count('end') !== ends) throw new Error(`contid serve bound ${count('create')} creates and ${count('end')} ends, not ${n} and ${ends}: ${serveLog().slice(-2000)}`);
    };
    const row = (what, r) =>
      `  ${what}\n` +
      `    plain unit           median ${r.plain.toFixed(1)} ms\n` +
      `    contid drop-in (sh)  median ${r.tagged.toFixed(1)} ms   +${(r.tagged - r.plain).toFixed(1)} ms   ratio ${(r.tagged / r.plain).toFixed(2)}x of the medians, ${r.ratio.toFixed(2)}x median of the pairs' ratios (target <= 1.3x)\n` +
      (r.stoppost === null ? '' : `    plain unit with ExecStopPost=+/bin/true (systemd's own cost of contid's extra line): median ${r.stoppost.toFixed(1)} ms\n`);
    // contid serve's CPU (user + system, clock ticks of 10 ms) for binding and ending these starts.
    const servePid = must(guest(['systemctl', 'show', '-p', 'MainPID', '--value', 'contid-bench-serve']), 'serve pid').stdout.trim();
    const serveTicks = () => {
      const stat = must(guest(['cat', `/proc/${servePid}/stat`]), 'serve stat').stdout;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    const ticksBefore = serveTicks();
    const deployed = pairs();
    await allBound(ROUNDS + 1);
    const serveCpu = ((serveTicks() - ticksBefore) * 10) / ROUNDS;
    // The hot path alone: contid serve paused (SIGSTOP), the entries wait in the spool and are bound when it goes on.
    guest(['systemctl', 'kill', '-s', 'STOP', 'contid-bench-serve']);
    const alone = pairs(true);
    guest(['systemctl', 'kill', '-s', 'CONT', 'contid-bench-serve']);
    await allBound(2 * ROUNDS + 1);
    const confined = await confinedPairs({ guest, dir, node, state, start: (name) => start(name), stop: (name) => must(guest(['systemctl', 'stop', `bench-${name}.service`]), name) });
    // Each sh-bound start created by serve from the spool; the ends of both tagged kinds spooled by contid-systemd end.
    await allBound(3 * ROUNDS + 2, 4 * ROUNDS + 3);
    process.stdout.write(
      `systemd oneshot unit (/bin/true) start-to-end, ${ROUNDS} interleaved pairs each (systemctl start via nsenter, in a real systemd in nspawn):\n` +
        row('contid serve draining in the guest (as deployed)', deployed) +
        `    contid serve's CPU per tagged start (its create and end entries): ${serveCpu.toFixed(1)} ms\n` +
        row('contid serve paused meanwhile (the sh hot path alone; bound once it went on)', alone) +
        `  every tagged start bound (create) and ended by contid serve from the spool: ${2 * ROUNDS + 1} of ${2 * ROUNDS + 1}\n` +
        `confined unit (User=nobody, PrivateNetwork=yes, /bin/sleep) systemctl start + stop, ${ROUNDS} rounds, order rotating, contid serve draining:\n` +
        `    plain unit                                     median ${confined.plain.toFixed(1)} ms\n` +
        `    ExecStartPost=+contid-systemd bind (sh, now)   median ${confined.sh.toFixed(1)} ms   +${(confined.sh - confined.plain).toFixed(1)} ms   ratio ${(confined.sh / confined.plain).toFixed(2)}x of the medians, ${confined.shRatio.toFixed(2)}x median of the rounds' ratios\n` +
        `    ExecStartPost=+contid systemd bind (Node, before) median ${confined.node.toFixed(1)} ms   +${(confined.node - confined.plain).toFixed(1)} ms   ratio ${(confined.node / confined.plain).toFixed(2)}x, ${confined.nodeRatio.toFixed(2)}x\n` +
        `  every sh-bound confined start bound (create) by contid serve from the spool: ${ROUNDS + 1} of ${ROUNDS + 1}\n`,
    );
  });
};
