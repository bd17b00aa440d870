// pnpm bench kubernetes [pods] [rounds]: two parts, each a ratio against its peer in the same run.
// 1. The node: a real containerd 1.6 CRI plugin (test/kubernetes/containerd-node.ts), the calls a
//    kubelet makes, through contid's shim as a node installs it — the compiled contid-runc-fast
//    (runtime handler "runc") — against plain runc (handler "plain") under the same containerd:
//    pod start (sandbox + 2 containers) and an ExecSync probe, medians of interleaved pairs; the
//    sh shim (handler "sh") runs in the same rounds, so the two shims are compared in one run.
//    Plain runc's handler names the same runc binary the shim runs, so the two differ only by
//    contid. The node agent (`contid agent kubernetes`, against the emulated API server below)
//    drains the spool while each step runs, as on a node; each step starts once the agent is
//    done with the one before. Then 1,000 probes (the pod spec's liveness probe, which the agent
//    marks and folds) and what they cost the agent and the registry.
// 2. The agent: how fast it brings N pods' annotations up to date from a cold start (list +
//    registry look-ups + one merge patch per pod), against kubectl annotating the same N pods on
//    the same emulated API server (no API server can run here: test/kubernetes/emulated-api-server.ts
//    is the in-process stand-in both clients talk to over HTTP).
const { execFile, spawn, spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { loadTs } = require('./lib/load-ts');
const { reniceThreads } = require('./lib/threads');

const ROOT = resolve(__dirname, '../..');
const { Registry } = require(join(ROOT, 'packages/core/dist/index.js'));
const k8s = require(join(ROOT, 'packages/kubernetes/dist/index.js'));
const CLI = join(ROOT, 'packages/cli/dist/main.js');

const loadEmulator = () => loadTs(join(ROOT, 'test/kubernetes/emulated-api-server.ts')).EmulatedApiServer;

const runKubectl = (args) =>
  new Promise((ok, fail) => execFile('kubectl', args, { maxBuffer: 64 << 20 }, (e, stdout, stderr) => (e ? fail(new Error(stderr || e.message)) : ok(stdout))));

async function waitAll(server, ns, names, key, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let left = names;
  // Re-check only pods still missing, so the poll does not starve the in-process server.
  while ((left = left.filter((n) => server.getPod(ns, n)?.metadata.annotations?.[key] === undefined)).length) {
    if (Date.now() > deadline) throw new Error('timed out waiting for annotations');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function round(EmulatedApiServer, n, dir, i) {
  const server = new EmulatedApiServer();
  await server.start();
  const registry = Registry.open(join(dir, `state-${i}`));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, server.kubeconfig());
  const names = [];
  try {
    for (let p = 0; p < n; p++) {
      const name = `pod-${p}`;
      const id = `${p.toString(16).padStart(8, '0')}`.repeat(8);
      names.push(name);
      registry.registerContainer({ orchestrator: 'kubernetes', name: `bench/${name}/app`, runtimeId: id });
      server.addPod({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: 'bench' },
        spec: { nodeName: 'bench-node', containers: [{ name: 'app', image: 'app:1' }] },
        status: { containerStatuses: [{ name: 'app', containerID: `containerd://${id}`, image: 'app:1', imageID: '', ready: true, restartCount: 0 }] },
      });
    }
    // The agent as deployed: its own process (Node start-up included), like kubectl below.
    let t = process.hrtime.bigint();
    const agent = spawn(process.execPath, [CLI, '--state-dir', join(dir, `state-${i}`), 'agent', 'kubernetes', '--node', 'bench-node', '--kubeconfig', kubeconfig, '--resync', '60'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const exited = new Promise((ok) => agent.on('exit', ok));
    await waitAll(server, 'bench', names, k8s.CONTAINERS_ANNOTATION);
    const agentMs = Number(process.hrtime.bigint() - t) / 1e6;
    agent.kill('SIGTERM');
    await exited;

    t = process.hrtime.bigint();
    await runKubectl(['--kubeconfig', kubeconfig, '--cache-dir', join(dir, 'cache'), '-n', 'bench', 'annotate', 'pods', '--all', 'bench.example/peer=1']);
    await waitAll(server, 'bench', names, 'bench.example/peer');
    const kubectlMs = Number(process.hrtime.bigint() - t) / 1e6;
    return { agentMs, kubectlMs };
  } finally {
    registry.close();
    await server.stop();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;

/** Pod start as the kubelet drives it: RunPodSandbox, then CreateContainer + StartContainer twice. */
async function startPod(node, image, handler, name, uid) {
  const sandbox = node.sandboxConfig('bench', name, uid);
  const t = process.hrtime.bigint();
  const id = await node.cri.runPodSandbox(sandbox, handler === 'contid' ? '' : handler);
  const containers = [];
  for (const name of ['app', 'sidecar']) {
    const c = await node.cri.createContainer(id, { metadata: { name }, image: { image }, command: ['/bin/sleep', '600'], logPath: `${name}.log` }, sandbox);
    await node.cri.startContainer(c);
    containers.push(c);
  }
  return { ms: ms(t), id, containers };
}

/** The pod as the API server holds it: app's liveness probe is the bench's ExecSync, so the agent marks and folds it. */
const apiPod = (name, uid, image) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'bench', uid },
  spec: { nodeName: 'bench-node', containers: [{ name: 'app', image, livenessProbe: { exec: { command: ['/bin/true'] } } }, { name: 'sidecar', image }] },
});

/** What the kubelet reports once a pod runs: its containers' runtime ids (the agent annotates the pod with their contids). */
const podStatus = (pod, image) => (p) => {
  p.status = { containerStatuses: ['app', 'sidecar'].map((name, k) => ({ name, containerID: `containerd://${pod.containers[k]}`, image, imageID: '', ready: true, restartCount: 0, state: { running: {} } })) };
};

async function until(what, test, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** CPU (user + system, all threads) a process has used, in ms. */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * The node agent as deployed: `contid agent kubernetes` (its own process, default priority),
 * the spool's only consumer, watching the node's pods on the emulated API server. It drains
 * while every step is measured, as it does on a node. BENCH_K8S_AGENT_CLI runs another build's
 * CLI (an A/B of agent changes); BENCH_K8S_AGENT=off runs none (the shim alone, as before).
 */
async function startNodeAgent(dir, stateDir, env) {
  const EmulatedApiServer = loadEmulator();
  const server = new EmulatedApiServer();
  await server.start();
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, server.kubeconfig());
  server.putConfigMap({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contid-node-prefixes', namespace: 'contid-system' }, data: {} });
  const cli = process.env.BENCH_K8S_AGENT_CLI || CLI;
  const agent = spawn(process.execPath, [cli, 'agent', 'kubernetes', '--node', 'bench-node', '--kubeconfig', kubeconfig, '--spool', join(stateDir, 'spool')], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  agent.stderr.on('data', (d) => (stderr += d.toString()));
  const exited = new Promise((ok) => agent.on('exit', ok));
  const stop = async () => {
    agent.kill('SIGTERM');
    await exited;
    await server.stop();
  };
  try {
    await until('the agent to drain the spool', () => /draining/.test(stderr) || agent.exitCode !== null, 30_000);
    if (agent.exitCode !== null) throw new Error(`contid agent kubernetes exited ${agent.exitCode}: ${stderr}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { server, cli, pid: agent.pid, stop, log: () => stderr };
}

async function nodeBench(rounds) {
  const { ContainerdNode, NODE_IMAGE } = loadTs(join(ROOT, 'test/kubernetes/containerd-node.ts'));
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-node-'));
  const stateDir = join(dir, 'state');
  const spoolDir = join(stateDir, 'spool');
  const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_RUNC_CONF: '/nonexistent', CONTID_FAIL_POLICY: 'closed' };
  const fast = join(ROOT, 'integrations/docker/contid-runc-fast');
  const built = spawnSync(join(ROOT, 'scripts/build-shim.sh'), [fast], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`scripts/build-shim.sh: ${built.stderr}`);
  const node = new ContainerdNode({ label: 'bench-node', binaryName: fast, env, handlers: { sh: join(ROOT, 'integrations/docker/contid-runc') } });
  await node.start();
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const agent = process.env.BENCH_K8S_AGENT === 'off' ? null : await startNodeAgent(dir, stateDir, env);
  // Between measured steps: the agent done with what the last step handed it (no entry left,
  // the pod annotated), so its work for one handler's step never lands in another's.
  const spoolEmpty = () => readdirSync(spoolDir).every((n) => !n.endsWith('.entry'));
  const annotated = (name) => () => Object.keys(JSON.parse(agent.server.getPod('bench', name)?.metadata.annotations?.[k8s.CONTAINERS_ANNOTATION] ?? '{}')).length === 3;
  const pods = [];
  try {
    const start = { contid: [], plain: [], sh: [] };
    const probe = { contid: [], plain: [], sh: [] };
    // BENCH_AGENT_NICES=0,19: the rounds rotate the agent's niceness (renice of every thread),
    // and the pod start and probe ratios are also printed per niceness.
    const nices = agent && process.env.BENCH_AGENT_NICES ? process.env.BENCH_AGENT_NICES.split(',').map(Number) : [];
    const byNice = new Map(nices.map((n) => [n, { start: [], probe: [] }]));
    for (let i = 0; i < rounds; i++) {
      const nice = nices.length ? nices[i % nices.length] : null;
      if (nice !== null) reniceThreads(agent.pid, nice);
      // Interleaved triples, the order rotating, so drift and caches hit each handler alike.
      const order = ['contid', 'plain', 'sh'];
      for (const handler of [...order.slice(i % 3), ...order.slice(0, i % 3)]) {
        const [name, uid] = [`pod-${handler}-${i}`, `uid-${handler}-${i}`];
        // A node running plain runc has no agent: only contid's pods are its to watch.
        const watched = agent && handler !== 'plain';
        if (watched) agent.server.addPod(apiPod(name, uid, NODE_IMAGE));
        const pod = await startPod(node, NODE_IMAGE, handler, name, uid);
        start[handler].push(pod.ms);
        pods.push(pod.id);
        if (watched) {
          // The kubelet reports the pod's containers a moment after they run (its relist).
          await until(`${name} drained`, spoolEmpty);
          agent.server.updatePod('bench', name, podStatus(pod, NODE_IMAGE));
          await until(`${name} annotated`, annotated(name));
        }
        const t = process.hrtime.bigint();
        const r = await node.cri.execSync(pod.containers[0], ['/bin/true']);
        if (r.exitCode !== 0) throw new Error(`probe exited ${r.exitCode}`);
        probe[handler].push(ms(t));
        if (watched) await until(`${name}'s probe drained`, spoolEmpty);
      }
      if (nice !== null) {
        byNice.get(nice).start.push(start.contid[i] / start.plain[i]);
        byNice.get(nice).probe.push(probe.contid[i] / probe.plain[i]);
      }
    }
    const ratio = (xs, of = 'contid') => median(xs[of].map((x, k) => x / xs.plain[k]));
    console.log(`A real node (containerd ${(await node.cri.version()).runtimeVersion} CRI plugin), ${rounds} interleaved rounds (contid-runc-fast, plain runc, the sh contid-runc), medians:`);
    console.log(agent ? `  contid agent kubernetes (${agent.cli === CLI ? 'this build' : agent.cli}) drains the spool throughout, as on a node; plain runc's pods are not its` : '  no agent runs (BENCH_K8S_AGENT=off): the shim alone');
    console.log(`  pod start (sandbox + 2 containers): contid ${median(start.contid).toFixed(0)} ms, plain runc ${median(start.plain).toFixed(0)} ms, ratio ${ratio(start).toFixed(3)}`);
    console.log(`  ExecSync probe (/bin/true):         contid ${median(probe.contid).toFixed(1)} ms, plain runc ${median(probe.plain).toFixed(1)} ms, ratio ${ratio(probe).toFixed(3)}`);
    for (const [n, r] of byNice) console.log(`  rounds with the agent at nice ${n} (${r.start.length}): pod start ratio ${median(r.start).toFixed(3)}, ExecSync ratio ${median(r.probe).toFixed(3)}`);
    console.log(`  the sh shim in the same rounds:     pod start ${median(start.sh).toFixed(0)} ms, ratio ${ratio(start, 'sh').toFixed(3)}; ExecSync ${median(probe.sh).toFixed(1)} ms, ratio ${ratio(probe, 'sh').toFixed(3)}`);

    // 1,000 probes on one container while the agent drains, as the kubelet's probes of a
    // node's pods come: what they cost the agent and the registry.
    const name = 'pod-probes';
    if (agent) agent.server.addPod(apiPod(name, 'uid-probes', NODE_IMAGE));
    const probed = await startPod(node, NODE_IMAGE, 'contid', name, 'uid-probes');
    pods.push(probed.id);
    let consumer = null;
    let tagger = null;
    if (agent) {
      await until(`${name} drained`, spoolEmpty);
      agent.server.updatePod('bench', name, podStatus(probed, NODE_IMAGE));
      await until(`${name} annotated`, annotated(name));
    } else {
      // No agent: the spool drained in this process after the probes, marked as the agent marks them.
      const { Tagger } = require(join(ROOT, 'packages/core/dist/index.js'));
      const { Spool, SpoolConsumer } = require(join(ROOT, 'packages/oci/dist/index.js'));
      tagger = Tagger.open({ stateDir, failPolicy: 'closed' });
      let known = [];
      consumer = new SpoolConsumer({ tagger, spool: new Spool(spoolDir), identifiers: [k8s.kubernetesIdentifier], describeExec: k8s.probeDescriber(() => known), pidFileWaitMs: 5_000 });
      await consumer.drain();
      known = [apiPod(name, 'uid-probes', NODE_IMAGE)];
    }
    try {
      const registry = () => Registry.open(stateDir, { readonly: true });
      const counts = () => {
        const reg = registry();
        try {
          const row = reg.findByRuntimeId(probed.containers[0]);
          return { bindings: reg.bindings(row.contid).length, folds: reg.folds(row.contid).length, runs: reg.folds(row.contid).reduce((n, f) => n + f.count, 0) };
        } finally {
          reg.close();
        }
      };
      const before = { ...counts(), pages: pageBytes(stateDir), disk: dbBytes(stateDir), cpu: agent ? cpuMs(agent.pid) : 0 };
      const probes = 1000;
      let t = process.hrtime.bigint();
      for (let k = 0; k < probes; k++) await node.cri.execSync(probed.containers[0], ['/bin/true']);
      const probeMs = ms(t);
      t = process.hrtime.bigint();
      if (agent) await until('the probes drained', spoolEmpty, 300_000);
      else await consumer.drain();
      const drainMs = ms(t);
      const agentCpu = agent ? cpuMs(agent.pid) - before.cpu : null;
      const after = counts();
      console.log(`  ${probes} probes through contid: ${(probeMs / probes).toFixed(1)} ms each; ${agent ? `the agent's CPU ${(agentCpu / probes).toFixed(2)} ms per probe, the spool empty ${drainMs.toFixed(0)} ms after the last` : `drained in ${drainMs.toFixed(0)} ms`};` +
        ` registry +${after.bindings - before.bindings} binding rows, ${after.runs - before.runs} runs folded into ${after.folds} row(s),` +
        ` +${((pageBytes(stateDir) - before.pages) / probes).toFixed(1)} bytes of pages in use per probe` +
        ` (files +${((dbBytes(stateDir) - before.disk) / probes).toFixed(0)} bytes per probe, WAL included: auto-checkpoints reuse it)`);
      const refused = existsSync(join(spoolDir, 'failed')) ? readdirSync(join(spoolDir, 'failed')).filter((n) => n.endsWith('.entry')).length : 0;
      if (refused) console.log(`  ${refused} spool entries quarantined (${join(spoolDir, 'failed')}): the figures above are not contid's ordinary path`);
    } finally {
      tagger?.close();
    }
  } finally {
    for (const id of pods) await node.cri.stopPodSandbox(id).then(() => node.cri.removePodSandbox(id)).catch(() => {});
    await agent?.stop();
    node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The registry's pages in use (WAL included), as SQLite counts them. */
function pageBytes(stateDir) {
  const reg = Registry.open(stateDir, { readonly: true });
  try {
    const pragma = (p) => reg.db.pragma(p, { simple: true });
    return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
  } finally {
    reg.close();
  }
}

/** The registry's bytes on disk (database and its WAL). */
function dbBytes(stateDir) {
  return readdirSync(stateDir).filter((f) => /\.db(-wal)?$/.test(f)).reduce((n, f) => n + statSync(join(stateDir, f)).size, 0);
}

exports.main = async function main(args) {
  const n = Number(args[0] || 300);
  const rounds = Number(args[1] || 5);
  await nodeBench(Math.max(rounds * 2, 10));
  const EmulatedApiServer = loadEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-k8s-'));
  try {
    const results = [];
    for (let i = 0; i < rounds; i++) results.push(await round(EmulatedApiServer, n, dir, i));
    const agent = median(results.map((r) => r.agentMs));
    const kubectl = median(results.map((r) => r.kubectlMs));
    console.log(`Annotating ${n} pods from a cold start (emulated API server, median of ${rounds}):`);
    console.log(`  contid agent kubernetes: ${agent.toFixed(0)} ms (${((n / agent) * 1000).toFixed(0)} pods/s; start-up, prefix claim, list, registry look-ups, patches)`);
    console.log(`  kubectl annotate --all:  ${kubectl.toFixed(0)} ms (${((n / kubectl) * 1000).toFixed(0)} pods/s; list + patches, incl. kubectl start-up)`);
    console.log(`  ratio agent / kubectl:   ${(agent / kubectl).toFixed(2)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
