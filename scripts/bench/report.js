// `pnpm bench report`: `contid report` for one container on the ≥ 1 GB log of `pnpm bench
// search` (generated once, same file) vs `ausearch --session S --raw | aureport -x --summary`
// for the same session: medians of interleaved pairs, cold (no index) and with the index;
// the executable counts of both tools verified equal.
const { spawnSync } = require('node:child_process');
const { existsSync, rmSync, mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { LOG, STATE, DIR, generate } = require('./search');

const MAIN = resolve(__dirname, '../../packages/cli/dist/main.js');
const PAIRS = Number(process.env.CONTID_BENCH_PAIRS || 5);
const CONTAINER = 'c-7';
const SESSION = 7;

/** Wall seconds, peak RSS (MB, from /usr/bin/time -v) and stdout of a shell command line. */
function measure(cmd, env) {
  const started = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-v', 'sh', '-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, ...env } });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr.split('\n')[0]}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? 0) / 1024;
  return { seconds, rss, stdout: r.stdout };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** aureport's summary table as { exe → total }. */
function aureportTable(text) {
  const out = new Map();
  for (const m of text.matchAll(/^(\d+)  (.+)$/gm)) out.set(m[2], Number(m[1]));
  return out;
}

function contidTable(json) {
  const groups = JSON.parse(json);
  if (groups.length !== 1) throw new Error(`contid report returned ${groups.length} groups`);
  return new Map(groups[0].executables.map((r) => [r.exe, r.count]));
}

function sameTable(a, b) {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);
}

async function main() {
  if (!existsSync(LOG)) {
    process.stderr.write(`generating the search benchmark's log in ${LOG} (once)…\n`);
    generate();
  }
  const index = mkdtempSync(join(tmpdir(), 'contid-bench-report-index-'));
  const env = { CONTID_STATE_DIR: STATE, CONTID_INDEX_DIR: index };
  const peer = `ausearch --session ${SESSION} --raw -if ${LOG} | aureport -x --summary`;
  const cold = `${process.execPath} ${MAIN} report -c ${CONTAINER} -if ${LOG} --no-index --json --quiet`;
  const warm = `${process.execPath} ${MAIN} report -c ${CONTAINER} -if ${LOG} --json --quiet`;
  try {
    spawnSync('cat', [LOG], { stdio: ['ignore', 'ignore', 'ignore'] }); // page cache warm for both tools
    const runs = { peer: [], cold: [], warm: [] };
    let expected = null;
    let peerRss = 0;
    let coldRss = 0;
    for (let i = 0; i < PAIRS; i++) {
      // interleaved, order alternated: drift on a shared machine hits both tools alike
      const order = i % 2 === 0 ? ['peer', 'cold'] : ['cold', 'peer'];
      for (const which of order) {
        const m = measure(which === 'peer' ? peer : cold, env);
        runs[which].push(m.seconds);
        if (which === 'peer') {
          peerRss = Math.max(peerRss, m.rss);
          expected = aureportTable(m.stdout);
        } else {
          coldRss = Math.max(coldRss, m.rss);
          const got = contidTable(m.stdout);
          if (expected && !sameTable(expected, got)) throw new Error(`executable counts differ: aureport ${JSON.stringify([...expected])}, contid ${JSON.stringify([...got])}`);
        }
      }
    }
    const built = measure(`${process.execPath} ${MAIN} index -i ${LOG} --quiet`, env);
    for (let i = 0; i < PAIRS; i++) {
      const m = measure(warm, env);
      runs.warm.push(m.seconds);
      if (!sameTable(expected, contidTable(m.stdout))) throw new Error('indexed report: executable counts differ from aureport');
    }
    const p = median(runs.peer);
    const c = median(runs.cold);
    const w = median(runs.warm);
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    process.stdout.write([
      `log: ${LOG}; container ${CONTAINER} (session ${SESSION}): ${expected.size} executables, ${total} events with an exe — equal counts from both tools`,
      `medians of ${PAIRS} interleaved pairs (wall time; peak RSS max over the runs)`,
      `ausearch --session ${SESSION} --raw | aureport -x --summary   ${p.toFixed(2)} s  peak RSS ${peerRss.toFixed(0)} MB (largest process of the pipeline)`,
      `contid report -c ${CONTAINER} (cold, --no-index)            ${c.toFixed(2)} s  peak RSS ${coldRss.toFixed(0)} MB  → ${(p / c).toFixed(1)}× faster (target ≥ 4×: ${p / c >= 4 ? 'met' : 'MISSED'})`,
      `contid index (once)                                   ${built.seconds.toFixed(2)} s`,
      `contid report -c ${CONTAINER} (indexed)                     ${w.toFixed(2)} s  → ${(p / w).toFixed(1)}× faster`,
    ].join('\n') + '\n');
  } finally {
    rmSync(index, { recursive: true, force: true });
  }
}

module.exports = { main };
