// pnpm bench systemd: the cost contid adds to a systemd unit's life. A Type=oneshot unit
// running /bin/true, plain against the same unit with the drop-in contid's generator writes
// (ExecStart= through contid-systemd exec: POSIX sh, a spool entry, no Node; the end learnt by
// contid serve from PID 1), each `systemctl start` timed to the unit's end, in interleaved pairs,
// in one real systemd (PID 1 of a systemd-nspawn guest booted from the bookworm tree the
// systemd tests cache). `contid serve` runs in the guest, as deployed, and must have bound
// every start and end. Printed: the medians, and the median of the pairs' ratios.
// Then a confined unit (User=nobody, PrivateNetwork=yes, /bin/sleep): `systemctl start` and
// `stop` timed together, plain against the drop-in (ExecStart= renews only, ExecStartPost=+
// contid-systemd bind spools $MAINPID for serve) and against the same unit with the Node
// `contid systemd bind` in ExecStartPost=+ that contid used before, in rotating order.
const { spawn, spawnSync } = require('node:child_process');
const { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { dirname, join, resolve } = require('node:path');

const REPO = resolve(__dirname, '../..');
const CLI = join(REPO, 'packages/cli/dist/main.js');
const TREE = process.env.CONTID_TEST_BOOKWORM || '/var/cache/contid-test/bookworm';
const ROUNDS = Number(process.env.BENCH_ROUNDS || 20);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** contid's own `+` lines start as the generator writes them: a static busybox clears the unit's environment (docs/systemd.md). */
const rootEnv = (...names) => `/bin/busybox env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${names.map((n) => `${n}=\${${n}}`).join(' ')}`;
const endLine = (wrapper) => `ExecStopPost=+${rootEnv('INVOCATION_ID', 'SERVICE_RESULT', 'EXIT_CODE', 'EXIT_STATUS')} ${wrapper} end --unit %n`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function must(r, what) {
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status ?? r.signal}: ${r.stderr || r.stdout.slice(-500)}`);
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
    endLine(wrapper), '',
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
      `--bind-ro=${REPO}`, `--bind-ro=${dirname(node) === '/usr/bin' ? node : dirname(node)}`, `--bind=${dir}:/var/lib/contid-bench`, '--bind-ro=/bin/busybox:/usr/bin/busybox'],
    { env: { ...process.env, SYSTEMD_SECCOMP: '0' }, stdio: 'ignore' }, // see test/systemd/nspawn-host.ts
  );
  try {
    let init;
    for (let i = 0; i < 200 && !init; i++, await sleep(100)) init = children(nspawn.pid).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd');
    if (!init) throw new Error('nspawn did not start systemd');
    const guest = (args, input) => spawnSync('nsenter', ['-t', String(init), '-a', 'env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', ...args], { encoding: 'utf8', input });
    for (let i = 0; i < 300 && !/running|degraded/.test(guest(['systemctl', 'is-system-running', '--wait']).stdout); i++) await sleep(100);
    await body(guest, dir, init);
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
/**
 * The oneshot units both breakdowns compare, written into the guest and kept loaded: plain;
 * with ExecStopPost=+/bin/true (systemd's cost of one more line); both lines as bare dash
 * (`sh -c`); each of contid-systemd's two lines alone (the end line also as it was before
 * its static `busybox env -i`); the whole drop-in. Returns their names.
 */
function writePhaseUnits(guest) {
  const W = `${REPO}/integrations/bin/contid-systemd --state-dir /var/lib/contid-bench/state --cli ${process.execPath} ${CLI}`;
  const units = {
    plain: 'ExecStart=/bin/true',
    stoppost: 'ExecStart=/bin/true\nExecStopPost=+/bin/true',
    dash: "ExecStart=/bin/sh -c 'exec /bin/true'\nExecStopPost=+/bin/sh -c :",
    'exec-line': `ExecStart=${W} exec --unit %n -- /bin/true`,
    'end-line': `ExecStart=/bin/true\n${endLine(W)}`,
    // The end line as it was before outside attack 14 F2 (the sh started directly, with the unit's environment): the static env -i's cost.
    'end-direct': `ExecStart=/bin/true\nExecStopPost=+${W} end --unit %n`,
    tagged: `ExecStart=${W} exec --unit %n -- /bin/true\n${endLine(W)}`,
  };
  const names = Object.keys(units);
  for (const [name, lines] of Object.entries(units)) {
    // StartLimitIntervalSec=0: these units are kept loaded (below), so systemd's start limit would count their starts.
    must(guest(['sh', '-c', `cat > /etc/systemd/system/phase-${name}.service`], `[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=oneshot\n${lines}\n`), name);
  }
  // Wanted by an active unit, so an inactive one is not unloaded and its timestamps stay readable.
  guest(['sh', '-c', `mkdir -p /etc/systemd/system/multi-user.target.d && printf '[Unit]\nWants=${names.map((n) => `phase-${n}.service`).join(' ')}\n' > /etc/systemd/system/multi-user.target.d/phase.conf`]);
  must(guest(['systemctl', 'daemon-reload']), 'daemon-reload');
  return names;
}

async function phases(guest) {
  const names = writePhaseUnits(guest);
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

/**
 * `pnpm bench systemd timeline`: the same units as `phases`, each `systemctl start` cut into
 * its steps by the kernel's own process events (tracefs: sched_process_fork of the guest's
 * PID 1, sched_process_exec and sched_process_exit, in a tracing instance of this run's own),
 * so a wrapper's time is told apart from systemd's: systemctl's exec until PID 1 forks the
 * main line; the fork until the line's first exec (systemd's set-up of the child); from it to
 * the command's exec (the wrapper's own work, 0 without one); the command until its exit; the
 * exit until the stop line's fork; its set-up; its run; the last exit until systemctl exits.
 * sched_switch gives how long the wrapper and the stop line were off the CPU, and who took it.
 * Needs root and tracefs; contid serve does not run (the entries wait).
 */
const EVENTS = ['sched_process_fork', 'sched_process_exec', 'sched_process_exit', 'sched_switch'];

async function timeline(guest, init) {
  const names = writePhaseUnits(guest);
  const tracing = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].find((t) => existsSync(`${t}/instances`));
  if (!tracing) throw new Error('no tracefs mounted: mount -t tracefs nodev /sys/kernel/tracing');
  const inst = `${tracing}/instances/contid-bench-systemd-${process.pid}`;
  mkdirSync(inst);
  try {
    writeFileSync(`${inst}/buffer_size_kb`, '8192');
    for (const e of EVENTS) writeFileSync(`${inst}/events/sched/${e}/enable`, '1');
    const mark = (text) => writeFileSync(`${inst}/trace_marker`, text);
    const runs = [];
    const preemptors = new Map();
    const run = (name) => {
      writeFileSync(`${inst}/trace`, ''); // one start per read: the buffer never wraps
      mark(`contid-bench ${name}`);
      must(guest(['systemctl', 'start', `phase-${name}.service`]), name);
      const steps = cutSteps(readFileSync(`${inst}/trace`, 'utf8'), init);
      if (!steps) return;
      runs.push({ name, ...steps });
      for (const c of steps.preemptedBy) preemptors.set(c, (preemptors.get(c) ?? 0) + 1);
    };
    names.forEach(run); // warm
    runs.length = 0;
    preemptors.clear();
    for (let i = 0; i < ROUNDS; i++) names.forEach((_, k) => run(names[(i + k) % names.length]));
    const cols = ['queue', 'mainSetup', 'wrapper', 'wrapperOff', 'command', 'toStop', 'stopSetup', 'stopLine', 'stopLineOff', 'back', 'total'];
    const m = (name, f) => {
      const xs = runs.filter((r) => r.name === name).map((r) => r[f]);
      return xs.length ? median(xs).toFixed(2).padStart(6) : '     -';
    };
    process.stdout.write(
      `systemd oneshot start cut by the kernel's process events (ms, medians of ${ROUNDS} rounds, order rotating; contid serve not running):\n` +
        `  queue: systemctl exec -> PID 1 forks the main line; setup: fork -> first exec; wrapper: first exec -> the command's exec;\n` +
        `  command: -> its exit; to stop: -> fork of the ExecStopPost line; stop setup / stop line likewise; back: last exit -> systemctl exits;\n` +
        `  ...Off: of the wrapper's and the stop line's time, how much they were runnable or waiting but not on a CPU (preempted, blocked)\n` +
        `  unit          ${cols.map((c) => c.padStart(9)).join(' ')}   (rounds)\n` +
        names.map((n) => `  ${n.padEnd(12)}  ${cols.map((c) => m(n, c).padStart(9)).join(' ')}   (${runs.filter((r) => r.name === n).length})\n`).join('') +
        `  who ran instead of a preempted wrapper or stop line (count over all rounds): ${[...preemptors].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([c, k]) => `${c} ${k}`).join(', ') || 'nobody'}\n`,
    );
  } finally {
    for (const e of EVENTS) {
      try {
        writeFileSync(`${inst}/events/sched/${e}/enable`, '0');
      } catch {
        /* already gone */
      }
    }
    rmdirSync(inst);
  }
}

/**
 * One `systemctl start`'s steps from its trace (host pids, seconds): null when the trace does
 * not hold one whole start (the lines PID 1 forked: the first is the main line, the second the
 * ExecStopPost= line).
 */
function cutSteps(trace, init) {
  let ctl = null;
  let ctlStart = 0;
  let ctlEnd = 0;
  const kids = new Map();
  const switches = []; // [time, pid out, its state, pid in, comm in]
  for (const line of trace.split('\n')) {
    const r = /^\s*.*?-(\d+)\s+\[\d+\]\s+\S+\s+([\d.]+): (sched_\w+): (.*)$/.exec(line);
    if (!r) continue;
    const t = Number(r[2]) * 1000;
    const f = Object.fromEntries([...r[4].matchAll(/(\w+)=(\S*)/g)].map((x) => [x[1], x[2]]));
    if (r[3] === 'sched_switch') switches.push([t, Number(f.prev_pid), f.prev_state, Number(f.next_pid), f.next_comm]);
    else if (r[3] === 'sched_process_fork' && Number(f.pid) === init) kids.set(Number(f.child_pid), { pid: Number(f.child_pid), fork: t, execs: [], exit: 0 });
    else if (r[3] === 'sched_process_exec') {
      if (ctl === null && /\/systemctl$/.test(f.filename)) {
        ctl = Number(f.pid);
        ctlStart = t;
      } else kids.get(Number(f.pid))?.execs.push(t);
    } else if (r[3] === 'sched_process_exit') {
      if (Number(f.pid) === ctl) ctlEnd = t;
      const kid = kids.get(Number(f.pid));
      if (kid) kid.exit = t;
    }
  }
  const [main, stop] = [...kids.values()].filter((k) => k.execs.length && k.exit);
  if (!ctlEnd || !main) return null;
  const last = stop ?? main;
  const preemptedBy = [];
  /** Time pid spent off every CPU between from and to, and who took its CPU when it was preempted. */
  const offCpu = (pid, from, to) => {
    let off = 0;
    let out = null;
    for (const [t, prev, state, next, comm] of switches) {
      if (t < from || t > to) continue;
      if (prev === pid) {
        out = t;
        if (/^R/.test(state)) preemptedBy.push(comm);
      } else if (next === pid && out !== null) {
        off += t - out;
        out = null;
      }
    }
    return off + (out !== null ? to - out : 0);
  };
  return {
    wrapperOff: offCpu(main.pid, main.execs[0], main.execs[main.execs.length - 1]),
    stopLineOff: stop ? offCpu(stop.pid, stop.execs[0], stop.exit) : 0,
    preemptedBy,
    queue: main.fork - ctlStart,
    mainSetup: main.execs[0] - main.fork,
    wrapper: main.execs[main.execs.length - 1] - main.execs[0],
    command: main.exit - main.execs[main.execs.length - 1],
    toStop: stop ? stop.fork - main.exit : 0,
    stopSetup: stop ? stop.execs[0] - stop.fork : 0,
    stopLine: stop ? stop.exit - stop.execs[0] : 0,
    back: ctlEnd - last.exit,
    total: ctlEnd - ctlStart,
  };
}

/**
 * The guest-side probe of `dbus`: a D-Bus client that does what contid serve would do to learn
 * ends from systemd — on the system bus (`bus`: Hello, AddMatch for systemd's signals,
 * Manager.Subscribe) or on systemd's private socket (`private`: a direct connection, as root,
 * where PID 1 writes its signals itself, in its own order) — and then only counts the bytes it
 * receives, printing them on SIGTERM. Given a unit's object path, it also prints, as each
 * arrives, the realtime (us) and the ActiveState of every PropertiesChanged of that unit that
 * carries one. Messages are marshalled and split by hand (no D-Bus library in the guest): a
 * measuring probe, not a client.
 */
const DBUS_PROBE = String.raw`
const net = require('net');
const { performance } = require('perf_hooks');
const [where, unitPath] = process.argv.slice(2);
function call(serial, path, iface, member, dest, arg) {
  const buf = Buffer.alloc(1024);
  let o = 0;
  const pad = (a) => { while (o % a) buf[o++] = 0; };
  buf.write('l', o++); buf[o++] = 1; buf[o++] = 0; buf[o++] = 1;
  o += 4; buf.writeUInt32LE(serial, o); o += 4;
  const fieldsAt = o; o += 4; pad(8); const fields = o;
  for (const [code, sig, val] of [[1, 'o', path], [2, 's', iface], [3, 's', member], [6, 's', dest]]) {
    pad(8); buf[o++] = code; buf[o++] = 1; buf.write(sig, o++); buf[o++] = 0; pad(4);
    buf.writeUInt32LE(Buffer.byteLength(val), o); o += 4; o += buf.write(val, o); buf[o++] = 0;
  }
  if (arg !== undefined) { pad(8); buf[o++] = 8; buf[o++] = 1; buf.write('g', o++); buf[o++] = 0; buf[o++] = 1; buf.write('s', o++); buf[o++] = 0; }
  buf.writeUInt32LE(o - fields, fieldsAt); pad(8);
  const body = o;
  if (arg !== undefined) { buf.writeUInt32LE(Buffer.byteLength(arg), o); o += 4; o += buf.write(arg, o); buf[o++] = 0; }
  buf.writeUInt32LE(o - body, 4);
  return buf.subarray(0, o);
}
const s = net.createConnection(where === 'private' ? '/run/systemd/private' : '/run/dbus/system_bus_socket');
let authed = false;
let bytes = 0;
let pending = Buffer.alloc(0);
s.on('connect', () => s.write('\0AUTH EXTERNAL ' + Buffer.from(String(process.getuid())).toString('hex') + '\r\n'));
s.on('data', (d) => {
  if (authed) {
    bytes += d.length;
    if (!unitPath) return;
    const t = Math.round((performance.timeOrigin + performance.now()) * 1000);
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 16) {
      const fl = pending.readUInt32LE(12);
      const total = 16 + fl + ((8 - (fl % 8)) % 8) + pending.readUInt32LE(4);
      if (pending.length < total) break;
      const text = pending.subarray(0, total).toString('latin1');
      pending = pending.subarray(total);
      const state = /ActiveState\0\x01s\0[\s\S]{0,8}?(inactive|failed|active|activating|deactivating|reloading)/.exec(text);
      if (state && text.includes(unitPath) && text.includes('PropertiesChanged')) console.log(t + ' ' + state[1]);
    }
    return;
  }
  if (!d.toString().startsWith('OK')) throw new Error('D-Bus auth: ' + d);
  authed = true;
  s.write('BEGIN\r\n');
  if (where !== 'private') {
    s.write(call(1, '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'Hello', 'org.freedesktop.DBus'));
    s.write(call(2, '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 'org.freedesktop.DBus', "type='signal',sender='org.freedesktop.systemd1'"));
  }
  s.write(call(3, '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'Subscribe', 'org.freedesktop.systemd1'));
});
process.on('SIGTERM', () => { process.stderr.write(String(bytes)); process.exit(0); });
setInterval(() => {}, 1 << 30);
`;

/**
 * `pnpm bench systemd dbus`: what following units on D-Bus would cost instead of the
 * ExecStopPost=+ line — with and without a subscriber to systemd's signals on the system bus
 * (DBUS_PROBE, above), in alternating blocks: the CPU of PID 1 and of dbus-daemon per start of
 * the plain oneshot (clock ticks over the block), the bytes of signals the subscriber
 * receives per start, and the wall medians of the plain unit and of the drop-in's exec line
 * alone (what would be left of the drop-in), timed inside the guest.
 */
async function dbusCost(guest, dir) {
  writeFileSync(join(dir, 'probe.js'), DBUS_PROBE);
  const W = `${REPO}/integrations/bin/contid-systemd --state-dir /var/lib/contid-bench/state --cli ${process.execPath} ${CLI}`;
  for (const [name, lines] of [['plain', 'ExecStart=/bin/true'], ['execonly', `ExecStart=${W} exec --unit %n -- /bin/true`]]) {
    must(guest(['sh', '-c', `cat > /etc/systemd/system/dbus-${name}.service`], `[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=oneshot\n${lines}\n`), name);
  }
  // A long-running wrapped unit, restarted: the order of the old invocation's end and the new one's entry.
  must(guest(['sh', '-c', 'cat > /etc/systemd/system/dbus-restart.service'], `[Unit]\nStartLimitIntervalSec=0\n[Service]\nExecStart=${W} exec --unit %n -- /bin/sleep 1000\n`), 'restart');
  must(guest(['systemctl', 'daemon-reload']), 'daemon-reload');
  // One guest script per block: starts timed inside the guest (no nsenter per start), CPU read from /proc.
  const block = String.raw`
    n=$1; sub=$2; dpid=$(systemctl show -p MainPID --value dbus.service)
    ticks() { awk '{print $14+$15}' /proc/$1/stat; }
    sp=; [ "$sub" = 1 ] && { ${process.execPath} /var/lib/contid-bench/probe.js bus 2> /var/lib/contid-bench/sub.out & sp=$!; sleep 0.5; }
    a=$(ticks 1); b=$(ticks $dpid)
    i=0; while [ $i -lt $n ]; do systemctl start dbus-plain.service; i=$((i+1)); done
    echo "cpu $(($(ticks 1)-a)) $(($(ticks $dpid)-b))"
    ${process.execPath} -e '
      const { spawnSync } = require("child_process");
      const t = (u) => { const s = process.hrtime.bigint(); spawnSync("systemctl", ["start", u]); return Number(process.hrtime.bigint() - s) / 1e6; };
      for (let i = 0; i < Number(process.argv[1]); i++) for (const u of i % 2 ? ["dbus-plain.service", "dbus-execonly.service"] : ["dbus-execonly.service", "dbus-plain.service"]) console.log("wall", u, t(u));
    ' $n
    if [ -n "$sp" ]; then kill $sp; wait $sp; echo "bytes $(cat /var/lib/contid-bench/sub.out)"; fi
  `;
  writeFileSync(join(dir, 'block.sh'), block);
  const n = ROUNDS;
  const got = { 0: { pid1: 0, dbus: 0, starts: 0, bytes: 0, subStarts: 0, plain: [], execonly: [] }, 1: { pid1: 0, dbus: 0, starts: 0, bytes: 0, subStarts: 0, plain: [], execonly: [] } };
  for (let b = 0; b < 6; b++) {
    const sub = b % 2;
    const out = must(guest(['sh', '/var/lib/contid-bench/block.sh', String(n), String(sub)]), 'block').stdout;
    const g = got[sub];
    for (const line of out.trim().split('\n')) {
      const w = line.split(' ');
      if (w[0] === 'cpu') {
        g.pid1 += Number(w[1]);
        g.dbus += Number(w[2]);
        g.starts += n;
      } else if (w[0] === 'wall') g[w[1] === 'dbus-plain.service' ? 'plain' : 'execonly'].push(Number(w[2]));
      else if (w[0] === 'bytes') {
        g.bytes += Number(w[1]);
        g.subStarts += 2 * n + n; // the CPU loop's starts, then the timed pairs
      }
    }
  }
  const order = restartOrder(guest, n);
  const row = (what, g) =>
    `  ${what}: PID 1 ${((g.pid1 * 10000) / g.starts).toFixed(0)} us CPU per start, dbus-daemon ${((g.dbus * 10000) / g.starts).toFixed(0)} us;` +
    ` plain ${median(g.plain).toFixed(1)} ms, exec line alone ${median(g.execonly).toFixed(1)} ms (${(median(g.execonly) / median(g.plain)).toFixed(2)}x)` +
    (g.subStarts ? `; the subscriber received ${(g.bytes / g.subStarts / 1024).toFixed(1)} KiB of signals per start` : '') +
    '\n';
  process.stdout.write(
    `following units on D-Bus instead of an ExecStopPost=+ line (3 blocks each, alternating; ${n} starts for CPU, ${n} pairs for wall, timed in the guest):\n` +
      row('no subscriber', got[0]) +
      row('a subscriber to systemd1 (Subscribe + AddMatch)', got[1]) +
      `  ${n} \`systemctl restart\` of a wrapped Type=simple unit, on systemd's private socket: the old invocation's inactive reached the probe before the new invocation's spool entry was written in ${order.before} of ${order.restarts}` +
      ` (by ${order.leads.length ? `${median(order.leads).toFixed(1)} ms median, ${Math.min(...order.leads).toFixed(1)} ms least` : '-'})\n`,
  );
}

/**
 * n restarts of dbus-restart.service (serve not running, so its entries stay) with the probe on
 * systemd's private socket: for each restart, did the old invocation's ActiveState=inactive reach
 * the probe before the new invocation's spool entry was written (its mtime)? What an end learnt
 * from systemd needs to keep the spool's order.
 */
function restartOrder(guest, n) {
  const script = String.raw`
    spool=/var/lib/contid-bench/state/spool
    systemctl start dbus-restart.service
    ${process.execPath} /var/lib/contid-bench/probe.js private /org/freedesktop/systemd1/unit/dbus_2drestart_2eservice > /var/lib/contid-bench/order.out 2>/dev/null & sp=$!
    sleep 0.5; rm -f $spool/*-create-*.entry
    i=0; while [ $i -lt $1 ]; do systemctl restart dbus-restart.service; i=$((i+1)); done
    sleep 0.3; kill $sp; wait $sp; systemctl stop dbus-restart.service
    cat /var/lib/contid-bench/order.out
    for f in $spool/*-create-*.entry; do echo "entry $(stat -c %.6Y $f)"; done
  `;
  const out = must(guest(['sh', '-c', script, 'sh', String(n)]), 'restart order').stdout.trim().split('\n');
  const inactive = out.filter((l) => / inactive$/.test(l)).map((l) => Number(l.split(' ')[0]) / 1000);
  const entries = out.filter((l) => l.startsWith('entry ')).map((l) => Number(l.slice(6)) * 1000).sort((a, b) => a - b);
  // Each entry after the first restart's: the latest inactive before it (the one that ended the previous invocation).
  const leads = [];
  let before = 0;
  for (const e of entries) {
    const prior = inactive.filter((t) => t < e);
    if (prior.length) {
      before++;
      leads.push(e - Math.max(...prior));
    }
  }
  return { restarts: entries.length, before, leads };
}

/**
 * `pnpm bench systemd nice`: what contid serve's CPU priority does to the oneshot start while it
 * drains. One guest, serve draining; blocks of BENCH_ROUNDS interleaved plain/drop-in pairs,
 * cycling three times through serve's threads at nice 0, at nice 10 (each thread set with
 * setpriority from inside the guest), and serve paused (SIGSTOP: the sh lines alone). Per mode:
 * the medians, the median of the pairs' ratios and serve's CPU per tagged start; every start is
 * checked bound and ended at the end.
 */
async function serveNice(guest) {
  const node = process.execPath;
  const state = '/var/lib/contid-bench/state';
  const unit = '[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=oneshot\nExecStart=/bin/true\n';
  for (const name of ['plain', 'tagged']) must(guest(['sh', '-c', `cat > /etc/systemd/system/nice-${name}.service`], unit), name);
  must(guest(['env', `CONTID_STATE_DIR=${state}`, node, CLI, 'install', 'systemd', 'nice-tagged.service']), 'install');
  must(guest(['systemctl', 'daemon-reload']), 'daemon-reload');
  must(guest(['systemd-run', '--unit=contid-bench-serve', '--property=Type=exec', node, CLI, '--state-dir', state, 'serve', '--socket', '/run/contid-bench.sock']), 'serve');
  const serveLog = () => guest(['journalctl', '-u', 'contid-bench-serve', '--no-pager', '-o', 'cat']).stdout;
  for (let i = 0; i < 300 && !serveLog().includes('contid serve: draining'); i++) await sleep(100);
  const pid = must(guest(['systemctl', 'show', '-p', 'MainPID', '--value', 'contid-bench-serve']), 'serve pid').stdout.trim();
  const setNice = (n) => must(guest([node, '-e', `const os=require('os');for(const t of require('fs').readdirSync('/proc/${pid}/task'))os.setPriority(Number(t),${n})`]), 'nice');
  const ticks = () => {
    const f = must(guest(['cat', `/proc/${pid}/stat`]), 'stat').stdout;
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(x[11]) + Number(x[12]);
  };
  const start = (name) => {
    const t = process.hrtime.bigint();
    must(guest(['systemctl', 'start', `nice-${name}.service`]), name);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  start('plain');
  start('tagged');
  const modes = ['nice 0', 'nice 10', 'paused'];
  const got = Object.fromEntries(modes.map((m) => [m, { plain: [], tagged: [], ratios: [], ticks: 0 }]));
  const loads = [];
  for (let cycle = 0; cycle < 3; cycle++) {
    for (const mode of modes) {
      if (mode === 'paused') guest(['kill', '-STOP', pid]);
      else setNice(mode === 'nice 0' ? 0 : 10);
      const g = got[mode];
      const t0 = ticks();
      for (let i = 0; i < ROUNDS; i++) {
        const [a, b] = i % 2 ? ['plain', 'tagged'] : ['tagged', 'plain'];
        const r = { [a]: start(a), [b]: start(b) };
        g.plain.push(r.plain);
        g.tagged.push(r.tagged);
        g.ratios.push(r.tagged / r.plain);
      }
      if (mode === 'paused') {
        guest(['kill', '-CONT', pid]);
        await sleep(1000); // its entries bound before the next block, outside the timed starts
      } else {
        await sleep(300);
        g.ticks += ticks() - t0;
      }
      loads.push(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
    }
  }
  const n = 3 * modes.length * ROUNDS + 1;
  const count = (op) => serveLog().split('\n').filter((l) => new RegExp(`^contid serve: ${op} [0-9a-f]{32} -> contid`).test(l)).length;
  for (let i = 0; i < 600 && (count('create') < n || count('end') < n); i++) await sleep(100);
  if (count('create') !== n || count('end') !== n) throw new Error(`contid serve bound ${count('create')} creates and ${count('end')} ends, not ${n}`);
  process.stdout.write(
    `systemd oneshot start, contid serve's CPU priority (${ROUNDS} interleaved pairs a block, 3 blocks a mode, modes cycling; load ${loads.join(' ')}):\n` +
      modes
        .map((m) => {
          const g = got[m];
          const cpu = m === 'paused' ? '' : `   serve CPU per tagged start ${((g.ticks * 10) / (3 * ROUNDS)).toFixed(1)} ms`;
          return `  serve ${m.padEnd(7)}  plain ${median(g.plain).toFixed(1)} ms  drop-in ${median(g.tagged).toFixed(1)} ms  ratio ${(median(g.tagged) / median(g.plain)).toFixed(2)}x of the medians, ${median(g.ratios).toFixed(2)}x median of the pairs' ratios${cpu}\n`;
        })
        .join('') +
      `  every tagged start bound and ended by contid serve: ${n} of ${n}\n`,
  );
}

/**
 * `pnpm bench systemd profile`: where contid serve's CPU per tagged oneshot start goes. serve
 * runs in the guest under `node --cpu-prof`; BENCH_ROUNDS starts of the drop-in's unit, one
 * after another; then serve stops and writes its profile, which is copied to
 * BENCH_PROFILE_DIR (default: the current directory) and summed up per function (self time
 * and total time, in ms per start: the spool's drain and the reading of PID 1's signals, the
 * start-up of serve left out).
 */
async function serveProfile(guest, dir) {
  const node = process.execPath;
  const state = '/var/lib/contid-bench/state';
  must(guest(['sh', '-c', 'cat > /etc/systemd/system/prof-tagged.service'], '[Unit]\nStartLimitIntervalSec=0\n[Service]\nType=oneshot\nExecStart=/bin/true\n'), 'unit');
  must(guest(['env', `CONTID_STATE_DIR=${state}`, node, CLI, 'install', 'systemd', 'prof-tagged.service']), 'install');
  must(guest(['systemctl', 'daemon-reload']), 'daemon-reload');
  must(guest(['systemd-run', '--unit=contid-bench-serve', '--property=Type=exec', node, '--cpu-prof', '--cpu-prof-dir=/var/lib/contid-bench/prof', CLI, '--state-dir', state, 'serve', '--socket', '/run/contid-bench.sock']), 'serve');
  const serveLog = () => guest(['journalctl', '-u', 'contid-bench-serve', '--no-pager', '-o', 'cat']).stdout;
  for (let i = 0; i < 300 && !serveLog().includes('contid serve: draining'); i++) await sleep(100);
  for (let i = 0; i < ROUNDS; i++) must(guest(['systemctl', 'start', 'prof-tagged.service']), 'start');
  for (let i = 0; i < 300 && (serveLog().match(/^contid serve: end /gm) ?? []).length < ROUNDS; i++) await sleep(100);
  must(guest(['systemctl', 'stop', 'contid-bench-serve']), 'stop serve');
  const [file] = readdirSync(join(dir, 'prof'));
  const out = join(process.env.BENCH_PROFILE_DIR || process.cwd(), `contid-serve-systemd-${process.pid}.cpuprofile`);
  copyFileSync(join(dir, 'prof', file), out);
  const p = JSON.parse(readFileSync(out, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
  const self = new Map();
  const total = new Map();
  p.samples.forEach((id, i) => {
    const t = (p.timeDeltas[i] ?? 0) / 1000;
    const chain = [];
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) chain.push(name(byId.get(cur)));
    // serve's work per start: the samples under the spool's drain passes, under the reading of
    // PID 1's signals (the ends), and GC — not serve's start-up.
    if (!chain.some((k) => k.startsWith('drain ') || k.startsWith('onData packages/systemd/')) && chain[0] !== '(garbage collector) :0') return;
    self.set(chain[0], (self.get(chain[0]) ?? 0) + t);
    for (const k of new Set(chain)) total.set(k, (total.get(k) ?? 0) + t);
  });
  const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, t]) => `    ${(t / ROUNDS).toFixed(3).padStart(7)}  ${k}\n`).join('');
  process.stdout.write(`contid serve's CPU per tagged oneshot start (ms, ${ROUNDS} starts, node --cpu-prof; profile: ${out}):\n  self time\n${top(self)}  total time\n${top(total)}`);
}

exports.main = async function main(args = []) {
  if (args[0] === 'profile') return withGuest((guest, dir) => serveProfile(guest, dir));
  if (args[0] === 'nice') return withGuest((guest) => serveNice(guest));
  if (args[0] === 'phases') return withGuest(phases);
  if (args[0] === 'timeline') return withGuest((guest, _dir, init) => timeline(guest, init));
  if (args[0] === 'dbus') return withGuest((guest, dir) => dbusCost(guest, dir));
  return withGuest(async (guest, dir) => {
    const node = process.execPath;
    const unit = '[Service]\nType=oneshot\nExecStart=/bin/true\n';
    for (const name of ['plain', 'tagged']) guest(['sh', '-c', `printf '${unit.replace(/\n/g, '\\n')}' > /etc/systemd/system/bench-${name}.service`]);
    // What systemd itself charges for one more line like contid's ExecStopPost=+ (a process forked and exec'd).
    const extra = `${unit}ExecStopPost=+/bin/true\n`;
    guest(['sh', '-c', `printf '${extra.replace(/\n/g, '\\n')}' > /etc/systemd/system/bench-stoppost.service`]);
    const state = '/var/lib/contid-bench/state';
    // The drop-in's exec line alone, without its ExecStopPost=+ end line: what would be left if
    // the end were learnt without a process of its own (written by hand; serve binds its create).
    const execOnly = `${unit}ExecStart=\nExecStart=${REPO}/integrations/bin/contid-systemd --state-dir ${state} --cli ${node} ${CLI} exec --unit %n -- /bin/true\n`;
    must(guest(['sh', '-c', 'cat > /etc/systemd/system/bench-execonly.service'], execOnly), 'execonly');
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
    for (const name of ['plain', 'tagged', 'stoppost', 'execonly']) start(name); // warm (the first start loads the unit)
    /** ROUNDS interleaved pairs: the medians and the median of the pairs' ratios. */
    const pairs = (withStopPost = false) => {
      const times = { plain: [], tagged: [], stoppost: [], execonly: [] };
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
        if (withStopPost) {
          times.stoppost.push(start('stoppost'));
          times.execonly.push(start('execonly'));
        }
        ratios.push(t / p);
      }
      return { plain: median(times.plain), tagged: median(times.tagged), ratio: median(ratios), stoppost: times.stoppost.length ? median(times.stoppost) : null, execonly: times.execonly.length ? median(times.execonly) : null };
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
      (r.stoppost === null
        ? ''
        : `    plain unit with ExecStopPost=+/bin/true (systemd's own cost of contid's extra line): median ${r.stoppost.toFixed(1)} ms\n` +
          `    the drop-in's exec line alone, no ExecStopPost=+ end line: median ${r.execonly.toFixed(1)} ms   ratio ${(r.execonly / r.plain).toFixed(2)}x of the medians\n`);
    // contid serve's CPU (user + system, clock ticks of 10 ms) for binding and ending these starts.
    const servePid = must(guest(['systemctl', 'show', '-p', 'MainPID', '--value', 'contid-bench-serve']), 'serve pid').stdout.trim();
    const serveTicks = () => {
      const stat = must(guest(['cat', `/proc/${servePid}/stat`]), 'serve stat').stdout;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    const ticksBefore = serveTicks();
    const deployed = pairs();
    await allBound(ROUNDS + 2); // bench-execonly's warm start included (serve ends it from PID 1 too)
    const serveCpu = ((serveTicks() - ticksBefore) * 10) / ROUNDS;
    // The hot path alone: contid serve paused (SIGSTOP), the entries wait in the spool and are bound when it goes on.
    guest(['systemctl', 'kill', '-s', 'STOP', 'contid-bench-serve']);
    const alone = pairs(true);
    guest(['systemctl', 'kill', '-s', 'CONT', 'contid-bench-serve']);
    await allBound(3 * ROUNDS + 2); // and its ROUNDS starts while serve was paused
    const confined = await confinedPairs({ guest, dir, node, state, start: (name) => start(name), stop: (name) => must(guest(['systemctl', 'stop', `bench-${name}.service`]), name) });
    // Each sh-bound start created by serve from the spool; every container's end (the Node-bound
    // ones' too) learnt from PID 1, or from the hand-written end line of the Node row, whichever first.
    await allBound(4 * ROUNDS + 3, 5 * ROUNDS + 4);
    process.stdout.write(
      `systemd oneshot unit (/bin/true) start-to-end, ${ROUNDS} interleaved pairs each (systemctl start via nsenter, in a real systemd in nspawn):\n` +
        row('contid serve draining in the guest (as deployed)', deployed) +
        `    contid serve's CPU per tagged start (its create and end entries): ${serveCpu.toFixed(1)} ms\n` +
        row('contid serve paused meanwhile (the sh hot path alone; bound once it went on)', alone) +
        `  every tagged start bound (create) by contid serve from the spool and ended from PID 1: ${3 * ROUNDS + 2} of ${3 * ROUNDS + 2}\n` +
        `confined unit (User=nobody, PrivateNetwork=yes, /bin/sleep) systemctl start + stop, ${ROUNDS} rounds, order rotating, contid serve draining:\n` +
        `    plain unit                                     median ${confined.plain.toFixed(1)} ms\n` +
        `    ExecStartPost=+contid-systemd bind (sh, now)   median ${confined.sh.toFixed(1)} ms   +${(confined.sh - confined.plain).toFixed(1)} ms   ratio ${(confined.sh / confined.plain).toFixed(2)}x of the medians, ${confined.shRatio.toFixed(2)}x median of the rounds' ratios\n` +
        `    ExecStartPost=+contid systemd bind (Node, before) median ${confined.node.toFixed(1)} ms   +${(confined.node - confined.plain).toFixed(1)} ms   ratio ${(confined.node / confined.plain).toFixed(2)}x, ${confined.nodeRatio.toFixed(2)}x\n` +
        `  every sh-bound confined start bound (create) by contid serve from the spool: ${ROUNDS + 1} of ${ROUNDS + 1}\n`,
    );
  });
};
