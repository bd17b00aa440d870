// pnpm bench tail: an execve flood (audit rule with a unique key, 2 tight loops of
// /bin/true for a bounded time) read live by `contid tail --source multicast`, against
// what auditd wrote to its log in the same window. Reports records/s received, received vs
// written, the kernel's `lost` counter before/after, and tail's peak RSS. Target: nothing lost.
const { spawn, spawnSync } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { randomBytes } = require('node:crypto');

const CLI = resolve(__dirname, '../../packages/cli/dist/main.js');
const SECONDS = Number(process.env.CONTID_BENCH_SECONDS || 10);
const LOOPS = 2;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function kernelStatus() {
  const out = spawnSync('auditctl', ['-s'], { encoding: 'utf8' }).stdout;
  const get = (k) => Number(new RegExp(`^${k} (\\d+)`, 'm').exec(out)?.[1]);
  return { lost: get('lost'), backlog: get('backlog') };
}

function peakRss(pid) {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
  } catch {
    return NaN;
  }
}

/** SYSCALL records of our rule, as auditd wrote them (all rotated logs). */
function writtenByAuditd(key) {
  const r = spawnSync('ausearch', ['--input-logs', '--raw', '-k', key], { encoding: 'utf8', maxBuffer: 1 << 30 });
  // -k also matches the rule's own add/remove CONFIG_CHANGE events: count the execve SYSCALLs.
  return r.stdout.split('\n').filter((l) => l.startsWith('type=SYSCALL') && l.includes(`key="${key}"`)).length;
}

exports.main = async function main() {
  const key = `contid-bench-tail-${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-tail-'));
  const out = join(dir, 'tail.raw');
  const rule = ['-F', 'arch=b64', '-S', 'execve', '-k', key];
  const loops = [];
  let tail;
  try {
    const before = kernelStatus();
    tail = spawn(process.execPath, [CLI, 'tail', '--source', 'multicast', '--format', 'raw', '--key', key, '--output', out], {
      env: { ...process.env, CONTID_STATE_DIR: join(dir, 'state') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    tail.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    for (let i = 0; i < 100 && !err.includes('tail ready'); i++) await sleep(100);
    if (!err.includes('tail ready')) throw new Error(`tail did not start: ${err}`);
    if (spawnSync('auditctl', ['-a', 'always,exit', ...rule]).status !== 0) throw new Error('auditctl -a failed');

    const t0 = process.hrtime.bigint();
    for (let i = 0; i < LOOPS; i++) loops.push(spawn('sh', ['-c', 'while :; do /bin/true; done'], { stdio: 'ignore' }));
    await sleep(SECONDS * 1000);
    for (const l of loops) l.kill('SIGKILL');
    spawnSync('auditctl', ['-d', 'always,exit', ...rule]);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await sleep(1500); // let the reader drain what the kernel already queued
    const rss = peakRss(tail.pid);
    tail.kill('SIGTERM');
    await new Promise((r) => tail.once('exit', r));
    const after = kernelStatus();

    const summary = /received (\d+) records, dropped (\d+) .*kernel socket overruns (\d+)/.exec(err);
    const receivedAll = Number(summary?.[1]);
    const text = readFileSync(out, 'latin1');
    const received = text.split('\n').filter((l) => l.startsWith('type=SYSCALL') && l.includes(`key="${key}"`)).length;
    const written = writtenByAuditd(key);

    console.log(`execve flood: ${LOOPS} loops of /bin/true for ${seconds.toFixed(1)} s, read by contid tail --source multicast`);
    console.log(`  records received (all types):  ${receivedAll.toLocaleString('en')}  = ${Math.round(receivedAll / seconds).toLocaleString('en')} records/s`);
    console.log(`  execve events, rule ${key}:`);
    console.log(`    written to audit.log by auditd: ${written.toLocaleString('en')}  (${Math.round(written / seconds)} /s)`);
    console.log(`    received by contid tail:        ${received.toLocaleString('en')}  ratio received/written = ${(received / written).toFixed(4)}`);
    console.log(`  tail's own drop counters: dropped ${summary?.[2]}, kernel socket overruns ${summary?.[3]}`);
    console.log(`  kernel lost counter: ${before.lost} -> ${after.lost} (${after.lost - before.lost >= 0 ? '+' : ''}${after.lost - before.lost})`);
    console.log(`  contid tail peak RSS: ${(rss / 1048576).toFixed(1)} MB`);
    const ok = received === written && after.lost === before.lost && Number(summary?.[2]) === 0 && Number(summary?.[3]) === 0;
    console.log(ok ? 'target met: nothing lost' : 'TARGET MISSED: records were lost (see above)');
  } finally {
    for (const l of loops) if (l.exitCode === null) l.kill('SIGKILL');
    spawnSync('auditctl', ['-d', 'always,exit', ...rule]);
    if (tail && tail.exitCode === null) tail.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
};
