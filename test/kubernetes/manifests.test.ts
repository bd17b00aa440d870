import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { clientNode } from '@contid/kubernetes';
import { EmulatedApiServer } from './emulated-api-server';

const run = promisify(execFile);
const DIR = resolve(__dirname, '../../integrations/kubernetes');
const SHIM = '/usr/local/libexec/contid/contid-runc-fast';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };

/** Paths present in `want` that kubectl dropped or changed while decoding into its Go types. */
function lostFields(want: unknown, got: unknown, path = ''): string[] {
  if (typeof want !== 'object' || want === null) return want === got ? [] : [`${path} (${JSON.stringify(want)} → ${JSON.stringify(got)})`];
  if (typeof got !== 'object' || got === null) return [`${path} (missing)`];
  return Object.entries(want).flatMap(([k, v]) => lostFields(v, (got as Record<string, unknown>)[k], `${path}.${k}`));
}

/**
 * kubectl validates fields only against the live server's OpenAPI, which no server here has.
 * client-node's models are generated from that OpenAPI: a typed round trip through its
 * ObjectSerializer drops every field the schema does not define.
 */
function unknownFields(o: Obj): string[] {
  const { createRequire } = process.getBuiltinModule('node:module');
  const { ObjectSerializer } = createRequire(resolve(__dirname, '../../packages/kubernetes/src/index.ts'))('@kubernetes/client-node/dist/serializer.js') as {
    ObjectSerializer: { serialize(o: unknown, type: string): unknown; deserialize(o: unknown, type: string): unknown };
  };
  const type = `V1${o.kind}`;
  return lostFields(o, ObjectSerializer.serialize(ObjectSerializer.deserialize(o, type), type));
}

describe('Kubernetes manifests, validated with kubectl', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'contid-k8s-manifests-'));
  const server = new EmulatedApiServer();
  let rendered: string;
  let objects: Obj[];
  const find = (kind: string, name: string): Obj => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

  /** `kubectl apply --dry-run=client` against the emulated API server (discovery only; nothing is stored). */
  async function kubectlDryRun(yaml: string): Promise<Obj[]> {
    const file = join(scratch, `in-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    const { stdout } = await run(
      'kubectl',
      ['--kubeconfig', join(scratch, 'kubeconfig'), '--cache-dir', join(scratch, 'cache'), 'apply', '--dry-run=client', '--validate=false', '-o', 'json', '-f', file],
      { timeout: 60_000 },
    );
    const out = JSON.parse(stdout) as Obj & { items?: Obj[] };
    return out.kind === 'List' ? out.items! : [out];
  }

  beforeAll(async () => {
    const k = spawnSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' });
    if (k.status !== 0) throw new Error(`kubectl kustomize failed: ${k.stderr}`);
    rendered = k.stdout;
    objects = clientNode().loadAllYaml(rendered) as Obj[];
    await server.start();
    writeFileSync(join(scratch, 'kubeconfig'), server.kubeconfig());
  });
  afterAll(async () => {
    await server.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('kubectl kustomize renders every object into contid-system', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/contid-agent',
        'ClusterRoleBinding/contid-agent',
        'ConfigMap/contid-node-prefixes',
        'DaemonSet/contid',
        'Namespace/contid-system',
        'Role/contid-node-prefixes',
        'RoleBinding/contid-node-prefixes',
        'ServiceAccount/contid-agent',
      ].sort(),
    );
    for (const o of objects.filter((x) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(x.kind))) expect(o.metadata.namespace).toBe('contid-system');
  });

  test('emulated API server: kubectl apply --dry-run=client accepts every object', async () => {
    const applied = await kubectlDryRun(rendered);
    expect(applied.map((a) => `${a.kind}/${a.metadata.name}`).sort()).toEqual(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort());
  });

  test('every field is one the Kubernetes API schema knows (client-node models, generated from its OpenAPI)', () => {
    for (const o of objects) expect({ object: `${o.kind}/${o.metadata.name}`, unknown: unknownFields(o) }).toEqual({ object: `${o.kind}/${o.metadata.name}`, unknown: [] });
    // The check is not vacuous: a misspelt field is reported.
    const ds = JSON.parse(JSON.stringify(find('DaemonSet', 'contid'))) as Obj & { spec: { template: { spec: Record<string, unknown> } } };
    ds.spec.template.spec.hostPIDD = true;
    expect(unknownFields(ds)).toEqual(['.spec.template.spec.hostPIDD (true → undefined)']);
  });

  test('RBAC is least privilege: pods get/list/watch/patch; the prefix ConfigMap get/update by name', () => {
    expect(find('ClusterRole', 'contid-agent').rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'patch'] }]);
    expect(find('Role', 'contid-node-prefixes').rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], resourceNames: ['contid-node-prefixes'], verbs: ['get', 'update'] },
    ]);
    for (const b of [find('ClusterRoleBinding', 'contid-agent'), find('RoleBinding', 'contid-node-prefixes')]) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: 'contid-agent', namespace: 'contid-system' }]);
    }
    // The agent never creates it (create cannot be limited by resourceNames): the kustomization ships it.
    expect(find('ConfigMap', 'contid-node-prefixes').data).toBeUndefined();
  });

  test('DaemonSet: hostPID, host mounts, only the capabilities tagging needs', () => {
    type Container = { name: string; command: string[]; securityContext: { runAsUser?: number; privileged?: boolean; allowPrivilegeEscalation?: boolean; capabilities: { drop: string[]; add?: string[] } }; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[]; env: { name: string; valueFrom?: unknown }[] };
    const spec = (find('DaemonSet', 'contid') as unknown as { spec: { template: { spec: { hostPID: boolean; hostNetwork: boolean; serviceAccountName: string; containers: Container[]; volumes: { name: string; hostPath: { path: string } }[] } } } }).spec.template.spec;
    expect(spec.hostPID).toBe(true);
    expect(spec.hostNetwork).toBe(true); // audit netlink takes user records from the initial network namespace only
    expect(spec.serviceAccountName).toBe('contid-agent');
    expect(Object.fromEntries(spec.volumes.map((v) => [v.name, v.hostPath.path]))).toEqual({ state: '/var/lib/contid', 'audit-log': '/var/log/audit' });
    expect(spec.containers.map((c) => c.name)).toEqual(['agent']);
    const [agent] = spec.containers;
    expect(agent.command).toEqual(['contid', 'agent', 'kubernetes']);
    expect(agent.securityContext).toMatchObject({ runAsUser: 0, privileged: false, allowPrivilegeEscalation: false });
    expect(agent.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['AUDIT_CONTROL', 'AUDIT_WRITE', 'SYS_PTRACE'] });
    expect(agent.env.find((e) => e.name === 'NODE_NAME')?.valueFrom).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(agent.volumeMounts).toEqual([
      { name: 'state', mountPath: '/var/lib/contid' },
      { name: 'audit-log', mountPath: '/var/log/audit', readOnly: true },
    ]);
  });

  test.each([
    ['node/containerd-config-v2.toml', ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'runc', 'options', 'BinaryName']],
    ['node/containerd-config-v3.toml', ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes', 'runc', 'options', 'BinaryName']],
    ['node/crio-contid.conf', ['crio', 'runtime', 'runtimes', 'runc', 'runtime_path']],
  ])('%s is valid TOML pointing runc at the shim', (file, keyPath) => {
    // Python's tomllib: a real TOML 1.0 parser (python3 is part of every Debian host here).
    const r = spawnSync('python3', ['-c', 'import json,sys,tomllib; print(json.dumps(tomllib.load(open(sys.argv[1],"rb"))))', join(DIR, file)], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const value = keyPath.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], JSON.parse(r.stdout));
    expect(value).toBe(SHIM);
    expect(readFileSync(join(DIR, file), 'utf8')).toMatch(/Install:/);
  });
});
