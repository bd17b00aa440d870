// pnpm bench shim [calls] [rounds]: the CPU the contid-runc shim costs per runtime call, by call
// kind, with the argv containerd's runc shim passes (captured from the CRI node of
// test/kubernetes/containerd-node.ts) and the runtime replaced by /bin/true, so only the shim is
// measured. Four columns: the runtime alone, the floor of any POSIX-sh shim (a script that only
// does `exec "$runtime" "$@"`: dash's start-up and the hand-over), contid-runc (the sh), and
// contid-runc-fast (the compiled shim, built from integrations/docker/contid-runc.c by
// scripts/build-shim.sh; a delete it hands to the sh). contid-runc minus the floor is what
// tagging costs in sh; the floor is what any sh shim costs.
//
// CPU, not wall time: the machine is shared, and under load a wall figure is the CPU multiplied
// by the run queue. Each figure is user + system time of N calls run by one dash loop (its
// `times` builtin: the children's CPU), the median of interleaved rounds.
const { spawnSync } = require('node:child_process');
const { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const ROOT = resolve(__dirname, '../..');
const SHIM = join(ROOT, 'integrations/docker/contid-runc');
const FAST = join(ROOT, 'integrations/docker/contid-runc-fast');
const ID = '510339e7d8cebce83d2babeaaaf437cbf4050e07e131461e37f76b298c8543bb';
const EXEC_ID = 'c0ffee'.padEnd(64, '0');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The CPU (ms) of `calls` runs of argv, from dash's `times` (children's user + system). */
function cpuPerCall(argv, calls, env) {
  const loop = 'n=$1; shift; i=0; while [ $i -lt $n ]; do "$@" >/dev/null 2>&1; i=$((i + 1)); done; times';
  const r = spawnSync('dash', ['-c', loop, 'bench', String(calls), ...argv], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the ${argv[0]} loop exited ${r.status}: ${r.stderr}`);
  // Second line: the children's user and system time, e.g. "0m1.230000s 0m0.450000s".
  const children = r.stdout.trim().split('\n')[1];
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`cannot read dash's times: ${JSON.stringify(r.stdout)}`);
  return ((secs[0] + secs[1]) * 1000) / calls;
}

exports.main = async function main(args) {
  const calls = Number(args[0] || 200);
  const rounds = Number(args[1] || 5);
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-shim-'));
  try {
    const spool = join(dir, 'spool');
    const bundle = join(dir, 'bundle');
    mkdirSync(bundle);
    // A pod container's config.json as containerd 1.6's CRI plugin writes it (one line, ≈ 2.9 KB:
    // no seccomp profile), and runc exec's process.json for an ExecSync of /bin/true (≈ 850 bytes).
    const caps = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];
    const proc = { user: { uid: 0, gid: 0, additionalGids: [0] }, args: ['/bin/true'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=vm'], cwd: '/', capabilities: { bounding: caps, effective: caps, permitted: caps } };
    const annotations = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': 'app', 'io.kubernetes.cri.sandbox-id': ID, 'io.kubernetes.cri.sandbox-name': 'pod-0', 'io.kubernetes.cri.sandbox-namespace': 'bench', 'io.kubernetes.cri.sandbox-uid': 'uid-0', 'io.kubernetes.cri.image-name': 'docker.io/local/busybox:1' };
    const config = { ociVersion: '1.0.2-dev', process: { ...proc, args: ['/bin/sleep', '600'], apparmorProfile: 'cri-containerd.apparmor.d', oomScoreAdj: 0 }, root: { path: 'rootfs' }, mounts: ['proc', 'dev', 'dev/pts', 'dev/mqueue', 'sys', 'sys/fs/cgroup', 'etc/hosts', 'etc/resolv.conf', 'dev/shm'].map((m) => ({ destination: `/${m}`, type: 'bind', source: `/run/containerd/io.containerd.grpc.v1.cri/sandboxes/${ID}/${m}`, options: ['rbind', 'rprivate', 'rw'] })), annotations, linux: { resources: { devices: [{ allow: false, access: 'rwm' }], cpu: { shares: 2 } }, cgroupsPath: `/k8s.io/${ID}`, namespaces: [{ type: 'pid' }, { type: 'ipc', path: '/proc/1/ns/ipc' }, { type: 'uts', path: '/proc/1/ns/uts' }, { type: 'mount' }], maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'], readonlyPaths: ['/proc/asound', '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'] } };
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    writeFileSync(join(dir, 'process.json'), JSON.stringify(proc));
    const floor = join(dir, 'sh-floor');
    writeFileSync(floor, '#!/bin/sh\nexec "$CONTID_RUNTIME" "$@"\n');
    chmodSync(floor, 0o755);

    // containerd-shim-runc-v2's argv (go-runc): global options, then the subcommand's.
    const globals = ['--root', '/run/containerd/runc/k8s.io', '--log', join(dir, 'log.json'), '--log-format', 'json'];
    const kinds = {
      'start (passthrough)': [...globals, 'start', ID],
      'create (renew, entry, cat of config.json)': [...globals, 'create', '--bundle', bundle, '--pid-file', join(bundle, 'init.pid'), ID],
      'exec (renew, entry with process.json)': [...globals, 'exec', '--process', join(dir, 'process.json'), '--detach', '--pid-file', join(bundle, `${EXEC_ID}.pid`), ID],
      'delete (renew, end entry)': [...globals, 'delete', ID],
    };
    const env = { PATH: process.env.PATH, CONTID_RUNTIME: '/bin/true', CONTID_SPOOL_DIR: spool, CONTID_RUNC_CONF: '/nonexistent', CONTID_FAIL_POLICY: 'closed' };
    const built = spawnSync(join(ROOT, 'scripts/build-shim.sh'), [FAST], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`scripts/build-shim.sh: ${built.stderr}`);
    const columns = { runtime: '/bin/true', floor, contid: SHIM, fast: FAST };
    console.log(`The shim's CPU per call (user + system, ms; ${calls} calls a round, median of ${rounds} interleaved rounds; runtime /bin/true):`);
    console.log(`  ${'call'.padEnd(44)}${'runtime'.padStart(9)}${'sh floor'.padStart(10)}${'contid'.padStart(9)}${'tagging'.padStart(10)}${'compiled'.padStart(10)}`);
    for (const [kind, argv] of Object.entries(kinds)) {
      const got = { runtime: [], floor: [], contid: [], fast: [] };
      for (let r = 0; r < rounds; r++) {
        for (const [col, bin] of Object.entries(columns)) {
          got[col].push(cpuPerCall([bin, ...argv], calls, env));
          // Each tagged call leaves one entry: fewer means the shim refused (not root?) and
          // the figure would be its error path's.
          const entries = existsSync(spool) ? readdirSync(spool).length : 0;
          const want = (col === 'contid' || col === 'fast') && !kind.includes('passthrough') ? calls : 0;
          if (entries !== want) throw new Error(`${kind} through ${col}: ${entries} spool entries for ${calls} calls (want ${want}; run as root)`);
          rmSync(spool, { recursive: true, force: true });
        }
      }
      const [t, f, c, x] = ['runtime', 'floor', 'contid', 'fast'].map((col) => median(got[col]));
      console.log(`  ${kind.padEnd(44)}${t.toFixed(2).padStart(9)}${f.toFixed(2).padStart(10)}${c.toFixed(2).padStart(9)}${(c - f).toFixed(2).padStart(10)}${x.toFixed(2).padStart(10)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
