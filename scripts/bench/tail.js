// pnpm bench tail: contid tail against laurel (Debian's `laurel`, an auditd plugin that adds
// container ids read from /proc/PID/cgroup), measured in the same run:
//
//  1. replay: one recorded-shape plugin stream (many short sessions, LOGIN + SYSCALL +
//     PROCTITLE + EOE each; every 10th a container with its signed binding and an execve;
//     containers known only to the registry exec'ing throughout) piped to
//     `contid tail --source plugin` and to `laurel`, RUNS interleaved pairs (order alternated);
//  2. live: the host's auditd with both plugins active, a workload of contid containers
//     running bursts of short processes (concurrent bursts too) under an execve rule with a
//     unique key, and marker commands timed from exec to output (lag).
//
// For each: attribution accuracy, CPU per 1,000 events, peak RSS, bytes per event, records/s,
// lag and losses, printed with contid/laurel ratios (medians over the pairs). Targets from
// issue #21 are printed as met / MISSED. `pnpm bench tail sessions`: the replay alone, of
// 1,000,000 sessions, for peak RSS whatever the session count (issue #17 item 4).
const { spawn, spawnSync } = require('node:child_process');
const { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { StringDecoder } = require('node:string_decoder');
const { loadavg, tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { randomBytes } = require('node:crypto');
const { sessionStream } = require('./lib/session-stream');

const ROOT = resolve(__dirname, '../..');
const CLI = join(ROOT, 'packages/cli/dist/main.js');
/** The entry the auditd plugin's launcher runs: `contid tail` alone. */
const PLUGIN_ENTRY = join(ROOT, 'packages/cli/dist/tail-main.js');
const SESSIONS = Number(process.env.CONTID_BENCH_SESSIONS || 50_000);
const RUNS = Number(process.env.CONTID_BENCH_RUNS || 3);
const LAUREL_CONF = '/etc/audit/plugins.d/laurel.conf';
const FORMAT = process.env.CONTID_BENCH_FORMAT || 'json';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');
/** The machine's load (1, 5, 15 min): these figures come from a shared 2-core VM. */
const load = () => loadavg().map((x) => x.toFixed(1)).join(' ');
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');

/** laurel from Debian; its plugins.d file stays inactive except while the live part runs. */
function ensureLaurel() {
  if (!existsSync('/usr/sbin/laurel')) {
    const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'laurel'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`apt-get install laurel failed: ${r.stderr.trim().split('\n').pop()}`);
  }
  setLaurelActive(false, null);
}

function setLaurelActive(active, config) {
  const args = config ? `args = --config ${config}\n` : 'args = --config /etc/laurel/config.toml\n';
  writeFileSync(LAUREL_CONF, `active = ${active ? 'yes' : 'no'}\ndirection = out\ntype = always\nformat = string\npath = /usr/sbin/laurel\n${args}`);
}

function laurelConfig(dir) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'config.toml');
  // Debian's shipped settings (container and pid enrichment on), writing into `dir`, as root.
  writeFileSync(
    file,
    [
      `directory = "${dir}"`,
      'statusreport-period = 0',
      '[auditlog]',
      'file = "audit.log"',
      'size = 5000000000',
      'generations = 2',
      '[transform]',
      'execve-argv = [ "array" ]',
      '[translate]',
      'universal = false',
      'user-db = false',
      '[enrich]',
      'pid = true',
      'execve-env = [ "LD_PRELOAD", "LD_LIBRARY_PATH" ]',
      'container = true',
      'script = true',
      '',
    ].join('\n'),
  );
  return file;
}

/** RSS of a process split as the kernel counts it (kB → bytes): anonymous (heap, V8) and file-backed (the binary, libraries). */
function rssSplit(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/**
 * Runs CMD with the stream piped to its stdin (like auditd's pipe); CPU and peak RSS by GNU
 * time, and the split of RSS into anonymous and file-backed pages at its sampled peak (every
 * 50 ms from /proc: the node binary's own pages are file-backed and no code of ours can
 * shrink them).
 */
async function timedConsumer(cmd, args, stream, env) {
  const timeFile = `${stream}.time-${randomBytes(3).toString('hex')}`;
  const t0 = Date.now();
  const child = spawn('/usr/bin/time', ['-f', '%U %S %M', '-o', timeFile, cmd, ...args], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  let peak = { rss: 0, anon: NaN, file: NaN };
  const sampler = setInterval(() => {
    try {
      const pid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0]);
      const now = rssSplit(pid);
      if (now.rss > peak.rss) peak = now;
    } catch {
      // not started yet, or gone
    }
  }, 50);
  const feeder = spawn('cat', [stream], { stdio: ['ignore', child.stdin, 'ignore'] });
  await new Promise((r) => feeder.once('exit', r));
  child.stdin.end();
  const code = await new Promise((r) => child.once('exit', r));
  clearInterval(sampler);
  const wall = (Date.now() - t0) / 1000;
  if (code !== 0) throw new Error(`${cmd} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
  const [user, sys, maxKb] = readFileSync(timeFile, 'utf8').trim().split('\n').pop().split(' ').map(Number);
  rmSync(timeFile, { force: true });
  return { cpu: user + sys, rss: maxKb * 1024, anonAtPeak: peak.anon, fileAtPeak: peak.file, wall, stderr: err };
}

/**
 * RSS of a process at rest (started, ready, nothing read yet), split: an idle `node`, and
 * contid tail --source plugin through the CLI and through the plugin's own entry — the floor
 * under every figure of the replay.
 */
async function atRest(label, cmd, args, env, readyText) {
  const child = spawn(cmd, args, { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
  for (let i = 0; i < 100 && !(readyText === null ? i >= 15 : err.includes(readyText)); i++) await sleep(100);
  await sleep(500);
  const split = rssSplit(child.pid);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return { label, ...split };
}

/** The launcher's command without its shell: node, the launcher's node flags and the plugin's entry, as auditd runs it. */
function pluginCommand() {
  const { PLUGIN_NODE_FLAGS } = require(join(ROOT, 'packages/audit/dist'));
  return [...PLUGIN_NODE_FLAGS, PLUGIN_ENTRY];
}

/** A file's lines, read a megabyte at a time (a 1,000,000-session output is over 512 MB, more than one string holds). */
function* fileLines(path) {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  try {
    for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null)) {
      const parts = (rest + decoder.write(buf.subarray(0, n))).split('\n');
      rest = parts.pop();
      yield* parts;
    }
  } finally {
    closeSync(fd);
  }
  rest += decoder.end();
  if (rest) yield rest;
}
const jsonLines = (text) => text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
/** The container name contid gave an event, in either of its JSON formats. */
const containerName = (e) => e.container?.name ?? null;
const execArg1 = (e) => {
  const rec = (e.records ?? []).find((r) => r.type === 'EXECVE');
  if (rec) return rec.fields.a1;
  return e.EXECVE?.ARGV?.[1] ?? e.EXECVE?.argv?.[1] ?? e.argv?.[1];
};

async function replay(dir, sessions = SESSIONS, runs = RUNS) {
  const { Registry, loadOrCreateSigner, configFromEnv, currentBootId } = require(join(ROOT, 'packages/core/dist'));
  const state = join(dir, 'state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const signer = loadOrCreateSigner(state, configFromEnv().nodeName, null);
  const boot = currentBootId().replace(/-/g, '');
  const registry = Registry.open(state);
  const registered = [];
  for (let i = 0; i < 8; i++) {
    const session = 90_000 + i;
    const c = registry.registerContainer({ orchestrator: 'docker', name: `reg${i}`, image: `local/img${i}:1`, session }, { session, pid: 1, op: 'create', detail: {} });
    registered.push({ name: c.name, contid: c.contid, session });
  }
  registry.close();
  const stream = join(dir, 'stream.log');
  const expected = new Map();
  const fd = openSync(stream, 'w');
  let records = 0;
  for (const chunk of sessionStream({ sessions, boundEvery: 10, signer, boot, registered, revisitEvery: 50, expected })) {
    writeFileSync(fd, chunk);
    for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) records++;
  }
  closeSync(fd);
  const env = { ...process.env, CONTID_STATE_DIR: state };
  const laurelDir = join(dir, 'laurel-replay');
  const laurelConf = laurelConfig(laurelDir);
  const rows = { contid: [], laurel: [] };
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? ['contid', 'laurel'] : ['laurel', 'contid'];
    for (const who of order) {
      if (who === 'contid') {
        const out = join(dir, 'contid-replay.out');
        rmSync(out, { force: true });
        const t = await timedConsumer(process.execPath, [...pluginCommand(), 'tail', '--source', 'plugin', '--format', FORMAT, '--output', out], stream, env);
        let events = 0;
        let right = 0;
        for (const l of fileLines(out)) {
          if (!l.startsWith('{')) continue;
          events++;
          const e = JSON.parse(l);
          if (expected.has(e.serial) && containerName(e) === expected.get(e.serial)) right++;
        }
        const dropped = Number(/dropped (\d+)/.exec(t.stderr)?.[1] ?? NaN);
        const releasedEarly = Number(/sent before their binding could come (\d+)/.exec(t.stderr)?.[1] ?? NaN);
        rows.contid.push({ ...t, events, bytes: statSync(out).size, right, dropped, releasedEarly });
      } else {
        for (const f of readdirSync(laurelDir)) if (f.startsWith('audit.log')) rmSync(join(laurelDir, f));
        const t = await timedConsumer('/usr/sbin/laurel', ['--config', laurelConf], stream, process.env);
        const log = join(laurelDir, 'audit.log');
        let events = 0;
        for (const l of fileLines(log)) if (l) events++;
        rows.laurel.push({ ...t, events, bytes: statSync(log).size, right: NaN, dropped: 0 });
      }
    }
  }
  return { records, expected: expected.size, rows };
}

function summarize(rows, records) {
  return {
    cpuPer1000: median(rows.map((r) => (r.cpu * 1000) / (r.events / 1000))),
    // the same stream to each: events are counted differently (contid, like ausearch, makes a
    // LOGIN an event of its own; laurel folds it into the SYSCALL's), records are not
    cpuPer1000Records: median(rows.map((r) => (r.cpu * 1000) / (records / 1000))),
    rss: median(rows.map((r) => r.rss)),
    anonAtPeak: median(rows.map((r) => r.anonAtPeak)),
    fileAtPeak: median(rows.map((r) => r.fileAtPeak)),
    bytesPerEvent: median(rows.map((r) => r.bytes / r.events)),
    recordsPerCpuSecond: median(rows.map((r) => records / r.cpu)),
    recordsPerSecond: median(rows.map((r) => records / r.wall)),
    right: median(rows.map((r) => r.right)),
    dropped: Math.max(...rows.map((r) => r.dropped)),
    releasedEarly: median(rows.map((r) => r.releasedEarly ?? NaN)),
    events: median(rows.map((r) => r.events)),
  };
}

/* ---------------------------------------------------------------- live (auditd plugins) */

function auditdPid() {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readFileSync(`/proc/${e}/comm`, 'utf8').trim() === 'auditd') return Number(e);
    } catch {
      // gone
    }
  }
  return null;
}

function childrenOf(ppid) {
  const out = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === ppid) out.push({ pid: Number(e), cmd: readFileSync(`/proc/${e}/cmdline`, 'utf8') });
    } catch {
      // gone
    }
  }
  return out;
}

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ 100)
}
const peakRss = (pid) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
/** The audit time of an output line: contid's "time" (ISO), laurel's "ID" (SEC.MSEC:SERIAL). */
function eventTimeMs(who, line) {
  const e = JSON.parse(line);
  if (who === 'laurel') return Math.round(Number(e.ID.split(':')[0]) * 1000);
  return typeof e.time === 'number' ? e.time : Date.parse(e.time);
}
const fileSize = (f) => (existsSync(f) ? statSync(f).size : 0);

async function restartAuditd() {
  const old = auditdPid();
  if (old) process.kill(old, 'SIGTERM');
  for (let i = 0; i < 100 && auditdPid() !== null; i++) await sleep(100);
  if (spawnSync('auditd').status !== 0) throw new Error('auditd did not start again');
  for (let i = 0; i < 100 && auditdPid() === null; i++) await sleep(100);
}

/** Both plugins running under auditd: their pids, by command line. */
async function startPlugins(state, contidMark) {
  const find = () => {
    const pid = auditdPid();
    const kids = pid ? childrenOf(pid) : [];
    return { contid: kids.find((k) => k.cmd.includes(contidMark))?.pid, laurel: kids.find((k) => k.cmd.includes('/usr/sbin/laurel'))?.pid };
  };
  process.kill(auditdPid(), 'SIGHUP');
  for (let i = 0; i < 50; i++) {
    const f = find();
    if (f.contid && f.laurel) return f;
    await sleep(100);
  }
  // auditd 3.0.9 starts no plugin on SIGHUP once a reload has stopped one (docs/tail.md).
  await restartAuditd();
  for (let i = 0; i < 100; i++) {
    const f = find();
    if (f.contid && f.laurel) return f;
    await sleep(100);
  }
  throw new Error('auditd did not start both plugins');
}

async function live(dir) {
  const state = join(dir, 'live-state');
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const env = { ...process.env, CONTID_STATE_DIR: state };
  const out = join(dir, 'contid-live.jsonl');
  const pluginLog = join(dir, 'contid-plugin.log');
  const laurelDir = join(dir, 'laurel-live');
  const laurelConf = laurelConfig(laurelDir);
  // laurel drops to no user here (root), so it may write into the bench directory.
  chmodSync(dir, 0o755);
  if (existsSync('/etc/audit/plugins.d/contid.conf')) throw new Error('/etc/audit/plugins.d/contid.conf exists: a contid plugin is installed on this host; not touching it');
  const key = `contid-bench-tail-${randomBytes(4).toString('hex')}`;
  // Our own copies of true and echo, matched by exe= in rules put first (-A): the kernel
  // stamps an event with the first matching rule's key, and other suites may have plain
  // execve rules of their own; these match only our processes, so neither run disturbs the other.
  const trueBin = join(dir, 'bench-true');
  const echoBin = join(dir, 'bench-echo');
  writeFileSync(trueBin, readFileSync('/bin/true'), { mode: 0o755 });
  writeFileSync(echoBin, readFileSync('/bin/echo'), { mode: 0o755 });
  const rules = [trueBin, echoBin].map((exe) => ['-F', 'arch=b64', '-S', 'execve', '-F', `exe=${exe}`, '-k', key]);
  const laurelOut = join(laurelDir, 'audit.log');
  try {
    const inst = spawnSync(process.execPath, [CLI, 'install', 'auditd-plugin', `output=${out}`, `format=${FORMAT}`, `log=${pluginLog}`, 'rotate-size=4G'], { env, encoding: 'utf8' });
    if (!/installed/.test(inst.stdout + inst.stderr)) throw new Error(`contid install auditd-plugin: ${inst.stderr.trim()}`);
    setLaurelActive(true, laurelConf);
    const pids = await startPlugins(state, state);
    for (let i = 0; i < 100 && !(existsSync(pluginLog) && readFileSync(pluginLog, 'utf8').includes('tail ready')); i++) await sleep(100);
    for (const rule of rules) if (spawnSync('auditctl', ['-A', 'always,exit', ...rule]).status !== 0) throw new Error('auditctl -A failed');
    const before = { contid: cpuSeconds(pids.contid), laurel: cpuSeconds(pids.laurel), contidBytes: fileSize(out), laurelBytes: fileSize(laurelOut) };
    const countLines = (f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter(Boolean).length : 0);
    const linesBefore = { contid: countLines(out), laurel: countLines(laurelOut) };

    // Workload: containers, each a burst of short processes; bursts of 4 containers at once.
    const sessions = new Map();
    const runContainer = (name, n) =>
      new Promise((done) => {
        const c = spawn(process.execPath, [CLI, 'exec', '--name', name, '--', 'sh', '-c', `cat /proc/self/sessionid; echo; i=0; while [ $i -lt ${n} ]; do ${trueBin}; i=$((i+1)); done`], { env, stdio: ['ignore', 'pipe', 'ignore'] });
        let text = '';
        c.stdout.setEncoding('utf8').on('data', (d) => (text += d));
        c.once('close', () => {
          sessions.set(Number(text.split('\n')[0]), name);
          done();
        });
      });
    const tag = randomBytes(3).toString('hex');
    const lags = { contid: [], laurel: [] };
    for (let round = 0; round < 5; round++) {
      await runContainer(`bt${tag}-s${round}`, 150);
      await Promise.all([0, 1, 2, 3].map((k) => runContainer(`bt${tag}-c${round}-${k}`, 60)));
      // Lag: from the marker event's own audit time to its line in each plugin's output.
      const marker = `lagmark-${tag}-${round}`;
      const m = spawn(process.execPath, [CLI, 'exec', '--name', `bt${tag}-l${round}`, '--', echoBin, marker], { env, stdio: 'ignore' });
      const seen = {};
      for (const deadline = Date.now() + 30_000; !(seen.contid && seen.laurel) && Date.now() < deadline; ) {
        for (const [who, f] of [['contid', out], ['laurel', laurelOut]]) {
          if (seen[who] || !existsSync(f)) continue;
          const line = readFileSync(f, 'utf8').split('\n').find((x) => x.includes(marker) && x.includes('EXECVE'));
          if (line) seen[who] = Date.now() - eventTimeMs(who, line);
        }
        await sleep(20);
      }
      await new Promise((r) => (m.exitCode === null ? m.once('exit', r) : r()));
      for (const who of ['contid', 'laurel']) lags[who].push(seen[who] ?? Infinity);
    }
    for (const rule of rules) spawnSync('auditctl', ['-d', 'always,exit', ...rule]);

    // Oracle: auditd's own log. Every execve of our key in a container session is expected.
    const aus = spawnSync('ausearch', ['--input-logs', '--raw', '-k', key], { encoding: 'utf8', maxBuffer: 1 << 30 }).stdout.split('\n');
    const expected = new Map();
    for (const l of aus) {
      if (!l.startsWith('type=SYSCALL') || !l.includes(`key="${key}"`)) continue;
      const ses = Number(/ ses=(\d+)/.exec(l)?.[1]);
      if (sessions.has(ses)) expected.set(Number(/audit\([0-9.]+:(\d+)\)/.exec(l)[1]), sessions.get(ses));
    }
    // Both drain what auditd already handed them (a loaded host can leave them seconds behind).
    const lastSerial = Math.max(0, ...expected.keys());
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(500)) {
      const text = readFileSync(out, 'utf8');
      const laurelText = existsSync(laurelOut) ? readFileSync(laurelOut, 'utf8') : '';
      if (text.includes(`"serial":${lastSerial},`) && laurelText.includes(`:${lastSerial}"`)) break;
    }
    const cpu = { contid: cpuSeconds(pids.contid) - before.contid, laurel: cpuSeconds(pids.laurel) - before.laurel };
    const rss = { contid: peakRss(pids.contid), laurel: peakRss(pids.laurel) };
    const contidEvents = jsonLines(readFileSync(out, 'utf8')).slice(linesBefore.contid);
    let right = 0;
    let wrong = 0;
    for (const e of contidEvents) {
      if (!expected.has(e.serial)) continue;
      if (containerName(e) === expected.get(e.serial)) right++;
      else if (containerName(e) !== null) wrong++;
    }
    const laurelLines = readFileSync(laurelOut, 'utf8').split('\n').filter(Boolean).slice(linesBefore.laurel);
    let laurelWithContainer = 0;
    for (const l of laurelLines) if (l.includes(`"key":"${key}"`) && /"CONTAINER"|"container"/.test(l)) laurelWithContainer++;
    const events = { contid: contidEvents.length, laurel: laurelLines.length };
    const bytes = { contid: fileSize(out) - before.contidBytes, laurel: fileSize(laurelOut) - before.laurelBytes };
    return { expected: expected.size, right, wrong, laurelWithContainer, cpu, rss, events, bytes, lags, pluginLog };
  } finally {
    for (const rule of rules) spawnSync('auditctl', ['-d', 'always,exit', ...rule]);
    spawnSync(process.execPath, [CLI, 'uninstall', 'auditd-plugin'], { env, stdio: 'ignore' });
    setLaurelActive(false, null);
    const pid = auditdPid();
    if (pid) process.kill(pid, 'SIGHUP');
  }
}

/**
 * `pnpm bench tail sessions`: memory whatever the session count (issue #17 item 4) — one
 * stream of 1,000,000 short sessions (CONTID_BENCH_SESSIONS) replayed to contid tail and to
 * laurel, peak RSS of each and what contid lost, against the 128 MB target.
 */
async function sessionsMode() {
  const sessions = Number(process.env.CONTID_BENCH_SESSIONS || 1_000_000);
  const runs = Number(process.env.CONTID_BENCH_RUNS || 1);
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-tail-'));
  try {
    const loadBefore = load();
    const r = await replay(dir, sessions, runs);
    const c = summarize(r.rows.contid, r.records);
    const l = summarize(r.rows.laurel, r.records);
    console.log(`replay of ${fmt(sessions)} short sessions (${fmt(r.records)} records) piped to each on stdin, ${runs} pair(s), format ${FORMAT}; load average ${loadBefore} before, ${load()} after`);
    console.log('   |                      | contid tail | laurel | contid/laurel |');
    console.log('   |---|---|---|---|');
    console.log(`   | peak RSS | ${fmt(c.rss / 1048576, 1)} MB | ${fmt(l.rss / 1048576, 1)} MB | ${ratio(c.rss, l.rss)} |`);
    console.log(splitRow(c, l));
    console.log(`   | CPU per 1,000 events | ${fmt(c.cpuPer1000)} ms | ${fmt(l.cpuPer1000)} ms | ${ratio(c.cpuPer1000, l.cpuPer1000)} |`);
    console.log(perRecordRow(c, l));
    console.log(`   | events out | ${fmt(c.events)} | ${fmt(l.events)} | |`);
    console.log(`   | records dropped | ${c.dropped} | (laurel counts none) | |`);
    console.log(`   | events sent before their binding could come (held events at their bound) | ${fmt(c.releasedEarly)} | | |`);
    console.log(`   | container execs attributed right | ${fmt(c.right)} / ${fmt(r.expected)} | n/a | |`);
    await floor(dir);
    const t = (ok, what) => console.log(`   ${ok ? 'met   ' : 'MISSED'} ${what}`);
    console.log('\ntargets (issue #17 item 4):');
    t(c.rss <= 128 * 1048576, `peak RSS ≤ 128 MB at ${fmt(sessions)} sessions (${fmt(c.rss / 1048576, 1)} MB)`);
    t(c.dropped === 0, `0 records lost (dropped ${c.dropped})`);
    t(c.right === r.expected, `attribution 100 % (${c.right}/${r.expected})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The floor under contid's RSS, measured now: an idle node, and contid tail at rest through the CLI and through the plugin's entry. */
async function floor(dir) {
  const state = join(dir, 'state');
  const env = { ...process.env, CONTID_STATE_DIR: state };
  const tailArgs = ['tail', '--source', 'plugin', '--format', FORMAT, '--output', join(dir, 'at-rest.out')];
  const rows = [
    await atRest('idle node (setTimeout only)', process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], env, null),
    await atRest('contid tail --source plugin via the CLI (main.js)', process.execPath, [CLI, ...tailArgs], env, 'tail ready'),
    await atRest("contid tail --source plugin as the launcher runs it (tail-main.js)", process.execPath, [...pluginCommand(), ...tailArgs], env, 'tail ready'),
    await atRest('laurel', '/usr/sbin/laurel', ['--config', join(dir, 'laurel-replay', 'config.toml')], process.env, 'Started'),
  ];
  const mb = (b) => fmt(b / 1048576, 1);
  console.log('\n   RSS at rest (nothing read yet), split as the kernel counts it:');
  console.log('   | process | RSS | anonymous | file-backed |');
  console.log('   |---|---|---|---|');
  for (const r of rows) console.log(`   | ${r.label} | ${mb(r.rss)} MB | ${mb(r.anon)} MB | ${mb(r.file)} MB |`);
}

const splitRow = (c, l) =>
  `   | peak RSS: anonymous / file-backed (sampled at the peak) | ${fmt(c.anonAtPeak / 1048576, 1)} / ${fmt(c.fileAtPeak / 1048576, 1)} MB | ${fmt(l.anonAtPeak / 1048576, 1)} / ${fmt(l.fileAtPeak / 1048576, 1)} MB | |`;
const perRecordRow = (c, l) => `   | CPU per 1,000 records (same stream to both) | ${fmt(c.cpuPer1000Records)} ms | ${fmt(l.cpuPer1000Records)} ms | ${ratio(c.cpuPer1000Records, l.cpuPer1000Records)} |`;

exports.main = async function main(args = []) {
  ensureLaurel();
  if (args[0] === 'sessions') return sessionsMode();
  if (args.length > 0) throw new Error(`unknown mode "${args[0]}" (modes: sessions)`);
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-tail-'));
  try {
    console.log(`contid tail vs laurel ${spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'laurel'], { encoding: 'utf8' }).stdout} (format ${FORMAT}), ${RUNS} interleaved pairs; load average ${load()}`);
    const r = await replay(dir);
    const c = summarize(r.rows.contid, r.records);
    const l = summarize(r.rows.laurel, r.records);
    console.log(`\n1. replay: ${fmt(SESSIONS)} short sessions, ${fmt(r.records)} records piped to each on stdin (medians)`);
    console.log('   |                      | contid tail | laurel | contid/laurel |');
    console.log('   |---|---|---|---|');
    console.log(`   | CPU per 1,000 events | ${fmt(c.cpuPer1000)} ms | ${fmt(l.cpuPer1000)} ms | ${ratio(c.cpuPer1000, l.cpuPer1000)} |`);
    console.log(perRecordRow(c, l));
    console.log(`   | records/s (per CPU second) | ${fmt(c.recordsPerCpuSecond)} | ${fmt(l.recordsPerCpuSecond)} | ${ratio(c.recordsPerCpuSecond, l.recordsPerCpuSecond)} |`);
    console.log(`   | records/s (wall, loaded host) | ${fmt(c.recordsPerSecond)} | ${fmt(l.recordsPerSecond)} | ${ratio(c.recordsPerSecond, l.recordsPerSecond)} |`);
    console.log(`   | peak RSS | ${fmt(c.rss / 1048576, 1)} MB | ${fmt(l.rss / 1048576, 1)} MB | ${ratio(c.rss, l.rss)} |`);
    console.log(splitRow(c, l));
    console.log(`   | bytes per event | ${fmt(c.bytesPerEvent)} | ${fmt(l.bytesPerEvent)} | ${ratio(c.bytesPerEvent, l.bytesPerEvent)} |`);
    console.log(`   | events out | ${fmt(c.events)} | ${fmt(l.events)} | |`);
    console.log(`   | container execs attributed right | ${fmt(c.right)} / ${fmt(r.expected)} (${fmt((100 * c.right) / r.expected, 2)} %) | n/a (reads /proc at event time; replayed pids do not exist) | |`);
    console.log(`   | records dropped | ${c.dropped} | (laurel counts none) | |`);
    await floor(dir);

    const v = await live(dir);
    const lag = (xs) => Math.max(...xs);
    console.log(`\n2. live: auditd ${spawnSync('auditctl', ['-v'], { encoding: 'utf8' }).stdout.trim().replace(/^.* /, '')} with both plugins; contid containers running bursts of /bin/true (single and 4 at once), 5 rounds`);
    console.log('   |                      | contid tail | laurel | contid/laurel |');
    console.log('   |---|---|---|---|');
    const per1000 = (who) => (v.cpu[who] * 1000) / (v.events[who] / 1000);
    console.log(`   | CPU per 1,000 events | ${fmt(per1000('contid'))} ms | ${fmt(per1000('laurel'))} ms | ${ratio(per1000('contid'), per1000('laurel'))} |`);
    console.log(`   | peak RSS | ${fmt(v.rss.contid / 1048576, 1)} MB | ${fmt(v.rss.laurel / 1048576, 1)} MB | ${ratio(v.rss.contid, v.rss.laurel)} |`);
    console.log(`   | bytes per event | ${fmt(v.bytes.contid / v.events.contid)} | ${fmt(v.bytes.laurel / v.events.laurel)} | ${ratio(v.bytes.contid / v.events.contid, v.bytes.laurel / v.events.laurel)} |`);
    console.log(`   | lag, marker exec to output (max of 5) | ${fmt(lag(v.lags.contid))} ms | ${fmt(lag(v.lags.laurel))} ms | ${ratio(lag(v.lags.contid), lag(v.lags.laurel))} |`);
    console.log(`   | container execs attributed right | ${v.right} / ${v.expected} (${fmt((100 * v.right) / v.expected, 2)} %), wrong ${v.wrong} | ${v.laurelWithContainer} carry a container (not Docker: no container cgroup) | |`);
    const pluginSummary = existsSync(v.pluginLog) ? (readFileSync(v.pluginLog, 'utf8').match(/tail \(plugin\): .*/g) ?? []).pop() : undefined;
    console.log(`   contid plugin: ${pluginSummary ?? '(no summary line)'}`);

    const t = (ok, what) => console.log(`   ${ok ? 'met   ' : 'MISSED'} ${what}`);
    console.log('\ntargets (issue #21):');
    t(c.cpuPer1000 <= l.cpuPer1000, `replay CPU per 1,000 events ≤ laurel's (${fmt(c.cpuPer1000)} vs ${fmt(l.cpuPer1000)} ms)`);
    t(per1000('contid') <= per1000('laurel'), `live CPU per 1,000 events ≤ laurel's (${fmt(per1000('contid'))} vs ${fmt(per1000('laurel'))} ms)`);
    t(c.rss <= 64 * 1048576 && v.rss.contid <= 64 * 1048576, `peak RSS ≤ 64 MB (replay ${fmt(c.rss / 1048576, 1)}, live ${fmt(v.rss.contid / 1048576, 1)} MB)`);
    t(lag(v.lags.contid) <= 1000, `lag ≤ 1 s (${fmt(lag(v.lags.contid))} ms)`);
    t(c.recordsPerCpuSecond >= 50_000, `≥ 50,000 records/s from the plugin stream (${fmt(c.recordsPerCpuSecond)} per CPU second)`);
    t(c.right === r.expected && v.expected > 0 && v.right === v.expected, `attribution 100 % (replay ${c.right}/${r.expected}, live ${v.right}/${v.expected}${v.expected === 0 ? ': no live event to check' : ''})`);
    t(c.dropped === 0, `0 records lost (replay dropped ${c.dropped})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
