import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CriClient, PodSandboxConfig } from '@contid/kubernetes';
import { run } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

/**
 * The runtime contid's shim runs under containerd's runc handler: CONTID_RUNTIME (or
 * CONTID_RUNC) from its environment, else the first runc in the directories it searches
 * (integrations/docker/contid-runc.c, choose_runtime; the sh's list is the same).
 */
export function shimRuntime(env: NodeJS.ProcessEnv): string {
  const given = env.CONTID_RUNTIME || env.CONTID_RUNC;
  if (given) return given;
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', '/sbin', '/bin']) {
    try {
      accessSync(join(dir, 'runc'), constants.X_OK);
      return join(dir, 'runc');
    } catch {
      // not there: the next directory
    }
  }
  throw new Error('no runc in /usr/sbin, /usr/bin, /usr/local/sbin, /usr/local/bin, /sbin or /bin');
}

/** The image every pod runs (also the sandbox image: containerd needs a pause image locally). */
export const NODE_IMAGE = 'docker.io/local/busybox:1';

export interface ContainerdNodeOptions {
  /** Unique per suite: root /var/lib/contid-test-<label>, state and socket under /run/contid-test-<label>. */
  label: string;
  /** The runtime handler "runc" (the default) runs this binary instead of runc: contid's shim. */
  binaryName: string;
  /** Environment for containerd, inherited by its runc shims and so by contid's shim. */
  env: NodeJS.ProcessEnv;
  /** More runtime handlers, name → BinaryName (a benchmark's other shims under the same containerd). */
  handlers?: Record<string, string>;
}

/**
 * A real Kubernetes node minus the kubelet: a private containerd (Debian's 1.6, whose CRI plugin
 * `io.containerd.grpc.v1.cri` is what a kubelet talks to) with its own root, state and socket,
 * two runtime handlers — "runc" through `binaryName`, "plain" straight to the runc that shim
 * runs, with the same runtime options otherwise — and no CNI:
 * pods use the node's network, as hostNetwork pods do. No registry is reachable here, so the
 * image is an OCI archive built from the host's busybox and imported with `ctr`.
 */
export class ContainerdNode {
  readonly root: string;
  readonly stateDir: string;
  readonly socket: string;
  readonly logDir: string;
  private daemon: ChildProcess | null = null;
  private clientInstance: CriClient | null = null;

  constructor(private readonly options: ContainerdNodeOptions) {
    this.root = `/var/lib/contid-test-${options.label}`;
    this.stateDir = `/run/contid-test-${options.label}`;
    this.socket = join(this.stateDir, 'containerd.sock');
    this.logDir = join(this.root, 'pod-logs');
  }

  get cri(): CriClient {
    if (!this.clientInstance) this.clientInstance = new CriClient(this.socket);
    return this.clientInstance;
  }

  async start(): Promise<void> {
    this.stop();
    rmSync(this.root, { recursive: true, force: true });
    mkdirSync(this.logDir, { recursive: true });
    mkdirSync(this.stateDir, { recursive: true });
    const config = join(this.root, 'config.toml');
    writeFileSync(config, this.config());
    const log = openSync(join(this.root, 'containerd.log'), 'w');
    this.daemon = spawn('containerd', ['--config', config], { stdio: ['ignore', log, log], env: this.options.env, detached: false });
    closeSync(log);
    await waitFor('containerd to serve its socket', () => existsSync(this.socket), 30_000);
    const archive = this.buildImage();
    const imported = run('ctr', ['-a', this.socket, '-n', 'k8s.io', 'images', 'import', archive], { timeout: 120_000 });
    if (imported.status !== 0) throw new Error(`ctr images import: ${imported.stderr}`);
    await this.cri.version();
  }

  /** Stops containerd; its runc shims and their containers go with a kill of the tasks first. */
  stop(): void {
    this.clientInstance?.close();
    this.clientInstance = null;
    if (this.daemon && this.daemon.exitCode === null) {
      this.daemon.kill('SIGTERM');
      spawnSync('sh', ['-c', `for i in $(seq 100); do kill -0 ${this.daemon.pid} 2>/dev/null || exit 0; sleep 0.05; done`]);
    }
    this.daemon = null;
    // Pod shims outlive containerd by design; a test node's must not.
    spawnSync('pkill', ['-f', `containerd-shim-runc-v2 .*-address ${this.socket}`]);
  }

  /** The containerd log, for failure messages. */
  log(): string {
    const path = join(this.root, 'containerd.log');
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** A pod as the kubelet asks for one: its own pid namespace per container, the node's network. */
  sandboxConfig(namespace: string, name: string, uid: string): PodSandboxConfig {
    return {
      metadata: { name, namespace, uid, attempt: 0 },
      logDirectory: join(this.logDir, uid),
      labels: { 'io.kubernetes.pod.name': name, 'io.kubernetes.pod.namespace': namespace, 'io.kubernetes.pod.uid': uid },
      linux: { securityContext: { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    };
  }

  private config(): string {
    return [
      'version = 2',
      `root = "${this.root}/containerd"`,
      `state = "${this.stateDir}/state"`,
      '[grpc]',
      `  address = "${this.socket}"`,
      '[ttrpc]',
      `  address = "${this.socket}.ttrpc"`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      `  sandbox_image = "${NODE_IMAGE}"`,
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      // This VM's bounding set lacks CAP_SYS_RESOURCE: the pause container's oom_score_adj
      // of -998 is refused unless capped at containerd's own.
      '  restrict_oom_score_adj = true',
      '  [plugins."io.containerd.grpc.v1.cri".cni]',
      `    bin_dir = "${this.root}/cni-bin"`,
      `    conf_dir = "${this.root}/cni-conf"`,
      // Every handler sets the same runtime options but BinaryName: "plain" names the runc that
      // contid's shim runs, so a pod through it and one through plain differ only by the shim.
      ...Object.entries({ runc: this.options.binaryName, plain: shimRuntime(this.options.env), ...this.options.handlers }).flatMap(([name, binary]) => [
        `  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${name}]`,
        '    runtime_type = "io.containerd.runc.v2"',
        `    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${name}.options]`,
        `      BinaryName = "${binary}"`,
      ]),
      '',
    ].join('\n');
  }

  /** An OCI image archive (oci-layout, index.json, blobs) of busybox, its default command a long sleep. */
  private buildImage(): string {
    const dir = join(this.root, 'image');
    const rootfs = join(dir, 'rootfs');
    const blobs = join(dir, 'oci', 'blobs', 'sha256');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    mkdirSync(blobs, { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
    for (const tool of ['sh', 'sleep', 'true', 'false', 'id', 'cat', 'echo', 'touch', 'ls']) symlinkSync('busybox', join(rootfs, 'bin', tool));
    const layerTar = join(dir, 'layer.tar');
    const tar = run('tar', ['-C', rootfs, '-cf', layerTar, '.']);
    if (tar.status !== 0) throw new Error(`tar: ${tar.stderr}`);
    const blob = (data: Buffer): { digest: string; size: number } => {
      const hex = createHash('sha256').update(data).digest('hex');
      writeFileSync(join(blobs, hex), data);
      return { digest: `sha256:${hex}`, size: data.length };
    };
    const layer = blob(readFileSync(layerTar));
    const config = blob(Buffer.from(JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sleep', '2147483647'] },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    })));
    const manifest = blob(Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    })));
    writeFileSync(join(dir, 'oci', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(dir, 'oci', 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'io.containerd.image.name': NODE_IMAGE } }],
    }));
    const archive = join(dir, 'busybox-oci.tar');
    const packed = run('tar', ['-C', join(dir, 'oci'), '-cf', archive, '.']);
    if (packed.status !== 0) throw new Error(`tar: ${packed.stderr}`);
    return archive;
  }
}
