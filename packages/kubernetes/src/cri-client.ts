import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import WebSocket from 'ws';

/**
 * A client of the kubelet's runtime API (CRI `runtime.v1`) over a runtime's unix socket —
 * containerd's CRI plugin or CRI-O. It makes the calls a kubelet makes, so a node can be driven
 * without a kubelet (tests, benchmarks) and the agent can see which containers a node runs.
 */

// src/ and dist/ are both one level below the package root.
const PROTO = join(__dirname, '../proto/cri-runtime-v1.proto');

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface PodSandboxConfig {
  metadata: { name: string; uid: string; namespace: string; attempt?: number };
  hostname?: string;
  logDirectory?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { securityContext?: { namespaceOptions?: { network?: NamespaceMode; pid?: NamespaceMode; ipc?: NamespaceMode } } };
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  envs?: { key: string; value: string }[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
}

export interface CriContainer {
  id: string;
  podSandboxId: string;
  metadata: { name: string; attempt: number };
  state: ContainerState;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriContainerStatus {
  status: { id: string; state: ContainerState; exitCode: number; annotations: Record<string, string> };
  /** Verbose only: containerd puts a JSON document (with `pid`) under `info`. */
  info: Record<string, string>;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

type Unary = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: (e: grpc.ServiceError | null, r: unknown) => void) => void;

/** The proto is loaded once per process, not at import. */
let serviceCtor: grpc.ServiceClientConstructor | null = null;
function runtimeService(): grpc.ServiceClientConstructor {
  if (!serviceCtor) {
    const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true });
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
    serviceCtor = pkg.runtime.v1.RuntimeService;
  }
  return serviceCtor;
}

export class CriClient {
  private readonly client: grpc.Client;

  /** `socket`: the runtime's unix socket, e.g. /run/containerd/containerd.sock. */
  constructor(readonly socket: string, private readonly timeoutMs = 60_000) {
    const Service = runtimeService();
    this.client = new Service(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  close(): void {
    this.client.close();
  }

  private call<T>(method: string, request: object): Promise<T> {
    const fn = (this.client as unknown as Record<string, Unary>)[method].bind(this.client);
    return new Promise((resolve, reject) => {
      fn(request, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (e, r) => {
        if (e) reject(new Error(`CRI ${method}: ${e.details || e.message}`));
        else resolve(r as T);
      });
    });
  }

  async version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call('Version', { version: 'v1' });
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    return (await this.call<{ podSandboxId: string }>('RunPodSandbox', { config, runtimeHandler })).podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', { podSandboxId });
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ containerId: string }>('CreateContainer', { podSandboxId, config, sandboxConfig })).containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call('StartContainer', { containerId });
  }

  async stopContainer(containerId: string, timeoutSeconds = 0): Promise<void> {
    await this.call('StopContainer', { containerId, timeout: String(timeoutSeconds) });
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.call('RemoveContainer', { containerId });
  }

  async listContainers(filter: { podSandboxId?: string; id?: string } = {}): Promise<CriContainer[]> {
    return (await this.call<{ containers: CriContainer[] }>('ListContainers', { filter })).containers;
  }

  async containerStatus(containerId: string, verbose = false): Promise<CriContainerStatus> {
    return this.call('ContainerStatus', { containerId, verbose });
  }

  /** The container's init pid as the runtime reports it (containerd: verbose info JSON). */
  async containerPid(containerId: string): Promise<number | null> {
    const { info } = await this.containerStatus(containerId, true);
    const pid = (JSON.parse(info.info ?? '{}') as { pid?: unknown }).pid;
    return typeof pid === 'number' && pid > 0 ? pid : null;
  }

  /** What a liveness or readiness probe does. */
  async execSync(containerId: string, cmd: string[], timeoutSeconds = 30): Promise<ExecResult> {
    const r = await this.call<{ stdout: Buffer; stderr: Buffer; exitCode: number }>('ExecSync', { containerId, cmd, timeout: String(timeoutSeconds) });
    return { stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), exitCode: r.exitCode };
  }

  /**
   * What `kubectl exec` does: the runtime hands out a URL on its streaming server, and the
   * command runs once a client connects to it (the API server's part, played here over
   * WebSocket with the `v4.channel.k8s.io` protocol: one channel byte before each frame).
   */
  async exec(containerId: string, cmd: string[]): Promise<ExecResult> {
    const { url } = await this.call<{ url: string }>('Exec', { containerId, cmd, stdout: true, stderr: true, stdin: false, tty: false });
    return streamExec(url, this.timeoutMs);
  }
}

const CHANNEL_STDOUT = 1;
const CHANNEL_STDERR = 2;
const CHANNEL_ERROR = 3;

function streamExec(url: string, timeoutMs: number): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let status = '';
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`CRI exec: no end after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('message', (data: Buffer) => {
      const channel = data[0];
      const payload = data.subarray(1);
      if (channel === CHANNEL_STDOUT) out.push(payload);
      else if (channel === CHANNEL_STDERR) err.push(payload);
      else if (channel === CHANNEL_ERROR) status += payload.toString('utf8');
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`CRI exec stream: ${e.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), exitCode: exitCodeOf(status) });
    });
  });
}

/** v4's error channel carries a metav1.Status: Success, or a non-zero ExitCode cause. */
export function exitCodeOf(statusJson: string): number {
  if (!statusJson) return 0;
  const status = JSON.parse(statusJson) as { status?: string; details?: { causes?: { reason?: string; message?: string }[] } };
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  return cause?.message !== undefined ? Number(cause.message) : 1;
}
