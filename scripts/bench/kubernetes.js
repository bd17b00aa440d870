// pnpm bench kubernetes: how fast the node agent brings N pods' annotations up to date from a
// cold start (list + registry look-ups + one merge patch per pod), against kubectl annotating
// the same N pods (list + one patch per pod) on the same emulated API server in the same run.
// No API server can run here: test/kubernetes/emulated-api-server.ts (transpiled with swc) is
// the in-process stand-in both clients talk to over HTTP.
const { execFile, spawn } = require('node:child_process');
const { mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const Module = require('node:module');

const ROOT = resolve(__dirname, '../..');
const { Registry } = require(join(ROOT, 'packages/core/dist/index.js'));
const k8s = require(join(ROOT, 'packages/kubernetes/dist/index.js'));
const CLI = join(ROOT, 'packages/cli/dist/main.js');

function loadEmulator() {
  const file = join(ROOT, 'test/kubernetes/emulated-api-server.ts');
  const { code } = require('@swc/core').transformSync(readFileSync(file, 'utf8'), {
    filename: file,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(ROOT);
  m._compile(code, file);
  return m.exports.EmulatedApiServer;
}

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
  writeFileSync(
    kubeconfig,
    `apiVersion: v1\nkind: Config\nclusters: [{name: e, cluster: {server: "${server.url}", insecure-skip-tls-verify: true}}]\n` +
      `users: [{name: u, user: {token: t}}]\ncontexts: [{name: e, context: {cluster: e, user: u}}]\ncurrent-context: e\n`,
  );
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

exports.main = async function main(args) {
  const n = Number(args[0] || 300);
  const rounds = 5;
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
