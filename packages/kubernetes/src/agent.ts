import { ContainerRecord, ContidError, Tagger } from '@contid/core';
import type * as ClientNodeModule from '@kubernetes/client-node';
import { Backoff, sleep } from './backoff';
import { KeyedWorkQueue } from './work-queue';
import { KubeConfig, clientNode, describeApiError, httpStatusOf, isTransient } from './client';
import { DEFAULT_PREFIX_CONFIGMAP, PrefixClaim, claimNodePrefix } from './node-prefix';
import { CONTAINERS_ANNOTATION, containersAnnotation, enrichedLabels, podContainers, podLabels, runtimeIdOf } from './pod-contids';

type V1Pod = ClientNodeModule.V1Pod;

export interface AgentOptions {
  kubeConfig: KubeConfig;
  /** The core's operations: look-ups, the node prefix, enrichment and ends, each write recorded in the audit trail. */
  tagger: Tagger;
  /** End (op=end) the containers the kubelet reports finished; default true. Off where another agent tags this node. */
  endFinished?: boolean;
  nodeName: string;
  /** Namespace of the prefix ConfigMap (the agent's own namespace). */
  namespace: string;
  prefixConfigMap?: string;
  /** Re-check every pod this often: a container's registry row may appear after its pod status. */
  resyncMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Pods reconciled (annotated) in parallel. */
  concurrency?: number;
  log?: (line: string) => void;
}

export interface AgentStats {
  listWatchErrors: number;
  restarts: number;
  patches: number;
  enriched: number;
  ended: number;
}

/**
 * The per-node agent: claims the node's ID prefix, then watches the node's pods (informer:
 * list + watch, relist on 410 Gone, restart with back-off after API outages), maps each
 * container's runtime ID to its contid, annotates the pod with them and enriches the
 * registry rows with what only the API knows (labels, owner, service account).
 */
export class KubernetesAgent {
  readonly stats: AgentStats = { listWatchErrors: 0, restarts: 0, patches: 0, enriched: 0, ended: 0 };
  private readonly api: ClientNodeModule.CoreV1Api;
  private readonly log: (line: string) => void;
  private readonly backoff: Backoff;
  private informer: ClientNodeModule.ListWatch<V1Pod> | null = null;
  private stopped = false;
  /** Cuts short a back-off wait when the agent is stopped (SIGTERM during an outage). */
  private readonly stopping = new AbortController();
  private restartTimer: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private lastErrorAt = 0;
  /** Pods to reconcile, by namespace/name: a pod queued twice is reconciled once. */
  private readonly queue: KeyedWorkQueue;
  /**
   * The annotation last patched per pod and the pod version it was patched from: while the
   * informer still holds that version, the watch has not echoed the patch back yet.
   */
  private readonly patched = new Map<string, { value: string; fromVersion: string | undefined }>();

  constructor(private readonly options: AgentOptions) {
    this.api = options.kubeConfig.makeApiClient(clientNode().CoreV1Api);
    this.log = options.log ?? (() => undefined);
    this.backoff = new Backoff(options.backoffInitialMs ?? 500, options.backoffMaxMs ?? 30_000);
    this.queue = new KeyedWorkQueue((key) => this.reconcileKey(key), options.concurrency ?? 4);
  }

  /** Claims the prefix (retrying while the API is unreachable), then starts watching. */
  async start(): Promise<PrefixClaim> {
    const claim = await this.claimPrefix();
    // Stopped while the claim was in flight (its caller stopped waiting): no watch, no timer.
    if (this.stopped) throw new ContidError('agent stopped before it started watching pods');
    this.startInformer();
    const resyncMs = this.options.resyncMs ?? 15_000;
    this.resyncTimer = setInterval(() => this.resync(), resyncMs);
    return claim;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.informer?.stop();
    await this.queue.close();
  }

  /** Pods of this node the informer currently knows. */
  pods(): readonly V1Pod[] {
    return this.informer?.list() ?? [];
  }

  private async claimPrefix(): Promise<PrefixClaim> {
    const { tagger, nodeName, namespace } = this.options;
    const preferred = tagger.nodePrefix();
    for (;;) {
      if (this.stopped) throw new ContidError('agent stopped before it could claim a node prefix');
      try {
        const claim = await claimNodePrefix(this.api, { namespace, name: this.options.prefixConfigMap ?? DEFAULT_PREFIX_CONFIGMAP, nodeName, preferred });
        tagger.setNodePrefix(claim.prefix);
        this.backoff.reset();
        this.log(`node ${nodeName}: ID prefix ${claim.prefix} (${claim.claimedNow ? 'claimed' : 'already held'})`);
        return claim;
      } catch (e) {
        if (e instanceof ContidError || !isTransient(e)) {
          throw e instanceof ContidError ? e : new ContidError(`cannot claim a node prefix: ${describeApiError(e)}`);
        }
        const delay = this.backoff.next();
        this.log(`claiming a node prefix failed (${describeApiError(e)}); retrying in ${delay} ms`);
        await sleep(delay, this.stopping.signal);
      }
    }
  }

  private startInformer(): void {
    const k8s = clientNode();
    const fieldSelector = `spec.nodeName=${this.options.nodeName}`;
    const listFn = async () => {
      const list = await this.api.listPodForAllNamespaces({ fieldSelector });
      // ListWatch forgets a stop() made while its list is in flight and would open a watch
      // that nothing stops; failing the list here ends its start instead.
      if (this.stopped) throw new ContidError('the agent stopped while listing pods');
      this.backoff.reset(); // the API answers again
      return list;
    };
    const informer = new k8s.ListWatch<V1Pod>('/api/v1/pods', new k8s.Watch(this.options.kubeConfig), listFn, false, undefined, fieldSelector);
    const onPod = (pod: V1Pod) => {
      this.backoff.reset();
      this.enqueue(pod);
    };
    informer.on('add', onPod);
    informer.on('update', onPod);
    informer.on('delete', (pod) => {
      this.patched.delete(keyOf(pod));
      this.endFinished(pod, true);
    });
    // The informer relists by itself after 410 Gone; any other failure stops it, so restart it.
    informer.on('error', (err) => this.scheduleRestart(err));
    this.informer = informer;
    this.runInformer(informer);
  }

  /** Starts (or restarts) the informer; a watch it opened after stop() is stopped in turn. */
  private runInformer(informer: ClientNodeModule.ListWatch<V1Pod>): void {
    informer.start().then(
      () => (this.stopped ? informer.stop() : undefined),
      (err: unknown) => this.scheduleRestart(err),
    );
  }

  private scheduleRestart(err: unknown): void {
    if (this.stopped) return;
    this.stats.listWatchErrors++;
    this.lastErrorAt = Date.now();
    if (this.restartTimer) return;
    const delay = this.backoff.next();
    this.log(`pod watch failed (${describeApiError(err)}); restarting in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopped || !this.informer) return;
      this.stats.restarts++;
      this.runInformer(this.informer);
    }, delay);
  }

  private resync(): void {
    // A watch resumed without a relist proves health only by lasting: twice the longest back-off.
    if (!this.restartTimer && Date.now() - this.lastErrorAt > 2 * this.backoff.maxMs) this.backoff.reset();
    for (const pod of this.pods()) this.enqueue(pod);
  }

  private enqueue(pod: V1Pod): void {
    this.queue.add(keyOf(pod));
  }

  private async reconcileKey(key: string): Promise<void> {
    if (this.stopped) return;
    const [namespace, name] = key.split('/');
    // The newest copy the informer holds, not the one from the event that queued it.
    const pod = this.informer?.get(name, namespace);
    if (!pod) return;
    try {
      await this.reconcile(pod);
    } catch (e) {
      this.log(`pod ${key}: ${describeApiError(e)}`);
    }
  }

  private async reconcile(pod: V1Pod): Promise<void> {
    this.endFinished(pod, false);
    const found = podContainers(pod, this.options.tagger.containers);
    for (const [name, record] of found.containers) this.enrich(record, podLabels(pod, name));
    if (found.sandbox) this.enrich(found.sandbox, podLabels(pod, null));
    const wanted = containersAnnotation(found);
    const key = keyOf(pod);
    if (wanted === null || pod.metadata?.annotations?.[CONTAINERS_ANNOTATION] === wanted) return;
    const last = this.patched.get(key);
    if (last?.value === wanted && last.fromVersion === pod.metadata?.resourceVersion) return;
    try {
      await this.api.patchNamespacedPod(
        { name: pod.metadata!.name!, namespace: pod.metadata!.namespace!, body: { metadata: { annotations: { [CONTAINERS_ANNOTATION]: wanted } } } },
        clientNode().setHeaderOptions('Content-Type', clientNode().PatchStrategy.MergePatch),
      );
      this.patched.set(key, { value: wanted, fromVersion: pod.metadata?.resourceVersion });
      this.stats.patches++;
    } catch (e) {
      if (httpStatusOf(e) === 404) return; // the pod is gone
      throw e;
    }
  }

  /**
   * Ends (registry + audit record) the containers the kubelet reports terminated, including a
   * restarted container's previous instance; a deleted pod ends all of them and its sandbox.
   */
  private endFinished(pod: V1Pod, deleted: boolean): void {
    const tagger = this.options.tagger;
    if (this.options.endFinished === false) return;
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
    const finished: { runtimeId: string | null; reason: string }[] = [];
    for (const s of statuses) {
      const last = s.lastState?.terminated;
      if (last) finished.push({ runtimeId: runtimeIdOf(last.containerID), reason: `exited ${last.exitCode}` });
      const now = s.state?.terminated;
      if (now) finished.push({ runtimeId: runtimeIdOf(now.containerID ?? s.containerID), reason: `exited ${now.exitCode}` });
      else if (deleted) finished.push({ runtimeId: runtimeIdOf(s.containerID), reason: 'pod deleted' });
    }
    if (deleted) {
      const sandbox = podContainers(pod, tagger.containers).sandbox;
      if (sandbox) finished.push({ runtimeId: sandbox.runtimeId, reason: 'pod deleted' });
    }
    for (const f of finished) {
      const record = f.runtimeId ? tagger.containers.findByRuntimeId(f.runtimeId) : undefined;
      if (!record || record.state === 'ended') continue;
      try {
        tagger.end(record.contid, f.reason);
        this.stats.ended++;
      } catch (e) {
        this.log(`cannot end ${record.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }

  private enrich(record: ContainerRecord, wanted: Record<string, string>): void {
    const labels = enrichedLabels(record, wanted);
    if (!labels) return;
    try {
      this.options.tagger.enrich(record.contid, { labels });
      this.stats.enriched++;
    } catch (e) {
      // Fail-closed and the audit trail refused the op=update record: the row stays as it was.
      this.log(`cannot enrich ${record.name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

const keyOf = (pod: V1Pod): string => `${pod.metadata?.namespace ?? ''}/${pod.metadata?.name ?? ''}`;
