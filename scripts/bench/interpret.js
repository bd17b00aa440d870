// `pnpm bench interpret [MB …]`: contid search against ausearch reading the same slice (default
// the first 20 MB; several sizes, e.g. `20 200`, each in turn: on a bigger slice contid's start-up
// of ≈ 0.3 s weighs less) of the search bench's 1 GB raw log, every event printed: `-i` (libauparse's
// interpretation) against `ausearch -i`, `--format text` against `ausearch --format text`, and
// the raw full scan against `ausearch --raw`. Same bytes required (a cut UTF-8 byte, which
// ausearch passes through, compared as contid writes it). CPU seconds (user + system) and
// wall seconds are medians of interleaved pairs; the ratio is ausearch / contid (> 1: contid
// is faster). The 1 GB log is generated once by scripts/bench/search.js.
const { spawnSync } = require('node:child_process');
const { closeSync, existsSync, openSync, readSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { loadavg } = require('node:os');
const { DIR, LOG, STATE, generate } = require('./search');

const MAIN = resolve(__dirname, '../../packages/cli/dist/main.js');
const PAIRS = Number(process.env.CONTID_BENCH_PAIRS || 5);
const ENV = { CONTID_STATE_DIR: STATE, CONTID_INDEX_DIR: join(DIR, 'index'), TZ: 'UTC', LC_ALL: 'C.UTF-8' };

/** The first `mb` MB of the log, cut after a newline. */
function slice(mb) {
  const file = join(DIR, `slice-${mb}m.log`);
  if (existsSync(file)) return file;
  const buf = Buffer.alloc(mb * 1e6);
  const fd = openSync(LOG, 'r');
  const n = readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  writeFileSync(file, buf.subarray(0, buf.subarray(0, n).lastIndexOf(10) + 1));
  return file;
}

/** One run: CPU and wall seconds, peak RSS, stdout (latin1). ausearch exits 1 on no match only. */
function run(argv) {
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %e %M', ...argv], { encoding: 'latin1', maxBuffer: 1 << 30, env: { ...process.env, ...ENV } });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr.split('\n')[0]}`);
  const [user, sys, wall, rss] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { cpu: user + sys, wall, rss: rss / 1024, stdout: r.stdout };
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

/** ausearch's bytes as contid writes them: valid UTF-8, an invalid byte as \ooo. */
function asContid(latin1) {
  const { bytesToText } = require('../../packages/audit/dist');
  return latin1.split('\n').map((l) => bytesToText(l, { escapeControls: true })).join('\n');
}

/** `PAIRS` interleaved pairs (the order alternates), outputs compared on the first. */
function compare(name, theirs, mine, normalize) {
  const a = [];
  const b = [];
  for (let i = 0; i < PAIRS; i++) {
    const [x, y] = i % 2 === 0 ? [run(theirs), run(mine)] : [run(mine), run(theirs)].reverse();
    if (i === 0 && normalize(Buffer.from(y.stdout, 'latin1').toString('utf8')) !== asContid(x.stdout)) throw new Error(`${name}: contid and ausearch printed different text`);
    // the outputs are not kept: on a 200 MB slice each is as big
    a.push({ ...x, stdout: undefined });
    b.push({ ...y, stdout: undefined });
  }
  const cpu = [median(a.map((r) => r.cpu)), median(b.map((r) => r.cpu))];
  const wall = [median(a.map((r) => r.wall)), median(b.map((r) => r.wall))];
  const rss = Math.max(...b.map((r) => r.rss));
  return `${name.padEnd(34)} CPU ${cpu[0].toFixed(2)} s vs ${cpu[1].toFixed(2)} s → ${(cpu[0] / cpu[1]).toFixed(2)}×   wall ${wall[0].toFixed(2)} s vs ${wall[1].toFixed(2)} s → ${(wall[0] / wall[1]).toFixed(2)}×   contid peak RSS ${rss.toFixed(0)} MB`;
}

function main(args) {
  if (!existsSync(LOG)) {
    process.stderr.write(`generating the search bench's raw log in ${LOG} (once)…\n`);
    generate();
  }
  for (const mb of args.length > 0 ? args.map(Number) : [20]) {
    const file = slice(mb);
    const contid = (...a) => [process.execPath, MAIN, 'search', '-if', file, '--no-index', ...a];
    const noContainer = (s) => s.replace(/^---- container=.*$/gm, '----');
    const noContainerText = (s) => s.replace(/ container=\S+ contid=\S+ orchestrator=\S+$/gm, '');
    const lines = [
      `slice: first ${mb} MB of ${LOG}; medians of ${PAIRS} interleaved pairs; ausearch vs contid (ratio > 1: contid faster); same text verified; load average ${loadavg()[0].toFixed(1)}`,
      compare('-i (goal: ≥ 3× on the 1 GB log)', ['ausearch', '-if', file, '-i'], contid('-i'), noContainer),
      compare('--format text', ['ausearch', '-if', file, '--format', 'text'], contid('--format', 'text'), noContainerText),
      compare('raw, no filter (ausearch --raw)', ['ausearch', '-if', file, '--raw'], contid('--raw'), (s) => s),
      `load average at the end ${loadavg()[0].toFixed(1)}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
}

module.exports = { main };
