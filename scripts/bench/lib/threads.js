// A process's threads as the benches measure and schedule them (/proc/PID/task): the CPU they
// have used, and every one's niceness set at once. One copy of each for docker.js and
// kubernetes.js (each had its own).
const { spawnSync } = require('node:child_process');
const { readFileSync, readdirSync } = require('node:fs');

/**
 * CPU time a process has used, in ms (/proc/PID/task/TID/schedstat: ns on a CPU): all its
 * threads, its main thread alone, and the share of its life the kernel spent on its behalf
 * (utime and stime of /proc/PID/stat); NaN each once the process is gone.
 */
function threadCpuMs(pid) {
  try {
    let ns = 0;
    let main = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const n = Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      ns += n;
      if (t === String(pid)) main = n;
    }
    const [utime, stime] = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ').slice(11, 13).map(Number);
    return { all: ns / 1e6, main: main / 1e6, system: stime / (utime + stime) };
  } catch {
    return { all: NaN, main: NaN, system: NaN };
  }
}

/** Sets every thread of `pid` to niceness `n`: renice(1) of one id sets that thread only (root may raise it back). */
function reniceThreads(pid, n) {
  for (const t of readdirSync(`/proc/${pid}/task`)) spawnSync('renice', ['-n', String(n), '-p', t]);
}

module.exports = { threadCpuMs, reniceThreads };
