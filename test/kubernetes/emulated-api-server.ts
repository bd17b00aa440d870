/**
 * An in-process stand-in for the Kubernetes API server (none can run on these machines). It
 * speaks the real wire protocol for the calls contid's node agent makes, so the agent is
 * driven through the real @kubernetes/client-node: pod list with resourceVersion, chunked
 * `watch=true` streams of {"type","object"} lines, 410 Gone (Expired) as a watch ERROR event
 * and on list with a compacted resourceVersion, merge/strategic-merge patches, ConfigMap
 * get/create/update with 409 Conflict on a stale resourceVersion, and Status error bodies.
 */
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { Socket } from 'node:net';

export type KObject = {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; rv: number; object: KObject };

interface Watcher {
  res: ServerResponse;
  namespace: string | null;
  fieldSelector: Record<string, string>;
  /** The newest version this watcher has been sent (or started from). */
  lastRv: number;
}

export interface RequestLog {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  status: number;
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

/** RFC 7386 JSON merge patch (also what strategic merge does for plain maps such as annotations). */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function parseFieldSelector(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const term of (s ?? '').split(',').filter(Boolean)) {
    const m = /^([^=!]+)==?(.*)$/.exec(term);
    if (!m) throw new Error(`unsupported field selector ${term}`);
    out[m[1]] = m[2];
  }
  return out;
}

function fieldValue(obj: KObject, path: string): string | undefined {
  let v: unknown = obj;
  for (const part of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return typeof v === 'string' ? v : undefined;
}

const matches = (obj: KObject, sel: Record<string, string>, ns: string | null): boolean =>
  (ns === null || obj.metadata.namespace === ns) && Object.entries(sel).every(([k, v]) => fieldValue(obj, k) === v);

function status(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code };
}

export class EmulatedApiServer {
  readonly requests: RequestLog[] = [];
  /** ConfigMap GETs answer only after this many ms: lets concurrent claimers read the same version. */
  configMapReadDelayMs = 0;
  /** ConfigMap writes (create, replace) are made at once but answered only after this many ms: a claim the client may give up on though it was stored. */
  configMapWriteDelayMs = 0;
  /** Pod lists (not watches) answer only after this many ms: a slow API server during a client's start. */
  podListDelayMs = 0;
  /** Pod PATCHes answer only after this many ms: an API server that holds a write (a stuck etcd, a partition). */
  podPatchDelayMs = 0;
  /** While set, watch events are kept in history but not streamed (a slow or stuck watch). */
  holdWatchEvents = false;
  /** Watches opened at a compacted resourceVersion, answered with a 410 Expired ERROR event. */
  expiredWatchOpens = 0;
  private rv = 1000;
  /** Versions older than this are compacted away (a watch or list from this one still works). */
  private compactedThrough = 0;
  private readonly pods = new Map<string, KObject>();
  private readonly configMaps = new Map<string, KObject>();
  private readonly history: WatchEvent[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private server: Server | null = null;
  port = 0;

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig for this server (a token user; plain http needs insecure-skip-tls-verify). */
  kubeconfig(): string {
    return (
      `apiVersion: v1\nkind: Config\nclusters: [{name: e, cluster: {server: "${this.url}", insecure-skip-tls-verify: true}}]\n` +
      `users: [{name: u, user: {token: t}}]\ncontexts: [{name: e, context: {cluster: e, user: u}}]\ncurrent-context: e\n`
    );
  }

  /** The API server goes away: the port refuses connections and open watches break. */
  async outage(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }

  async recover(): Promise<void> {
    await this.start(this.port);
  }

  async stop(): Promise<void> {
    await this.outage();
  }

  // ---- state the tests drive (what the kubelet and other controllers would write) ----

  addPod(pod: KObject): KObject {
    const key = `${pod.metadata.namespace}/${pod.metadata.name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} exists`);
    const stored = clone(pod);
    stored.metadata.uid ??= `uid-${key.replace('/', '-')}`;
    this.commit(this.pods, key, stored, 'ADDED');
    return clone(stored);
  }

  updatePod(namespace: string, name: string, mutate: (pod: KObject) => void): KObject {
    const pod = clone(this.getPod(namespace, name)!);
    mutate(pod);
    this.commit(this.pods, `${namespace}/${name}`, pod, 'MODIFIED');
    return clone(pod);
  }

  deletePod(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const pod = this.pods.get(key);
    if (!pod) throw new Error(`no pod ${key}`);
    pod.metadata.resourceVersion = String(++this.rv);
    this.pods.delete(key);
    const event: WatchEvent = { type: 'DELETED', rv: this.rv, object: clone(pod) };
    this.history.push(event);
    if (!this.holdWatchEvents) for (const w of this.watchers) this.send(w, event);
  }

  getPod(namespace: string, name: string): KObject | undefined {
    const p = this.pods.get(`${namespace}/${name}`);
    return p && clone(p);
  }

  getConfigMap(namespace: string, name: string): KObject | undefined {
    const c = this.configMaps.get(`${namespace}/${name}`);
    return c && clone(c);
  }

  putConfigMap(cm: KObject): void {
    this.commit(this.configMaps, `${cm.metadata.namespace}/${cm.metadata.name}`, clone(cm), 'ADDED');
  }

  /**
   * etcd compaction plus the watch cache's expiry: every version so far is gone, and each
   * open watch gets a 410 Expired ERROR event and is closed, as the real server does.
   */
  expireWatches(): void {
    // A version beyond every one a client holds, so each of them is now too old.
    this.compactedThrough = ++this.rv;
    const event = { type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${this.rv}`) };
    for (const w of this.watchers) {
      w.res.write(JSON.stringify(event) + '\n');
      w.res.end();
    }
    this.watchers.clear();
  }

  /** Watches a client holds open now. */
  openWatches(): number {
    return this.watchers.size;
  }

  count(method: string, pathPattern: RegExp, statusCode?: number): number {
    return this.requests.filter((r) => r.method === method && pathPattern.test(r.path) && (statusCode === undefined || r.status === statusCode)).length;
  }

  // ---- the protocol ----

  private commit(store: Map<string, KObject>, key: string, obj: KObject, type: WatchEvent['type']): void {
    obj.metadata.resourceVersion = String(++this.rv);
    obj.metadata.creationTimestamp ??= new Date().toISOString();
    store.set(key, obj);
    if (store !== this.pods) return;
    const event: WatchEvent = { type, rv: this.rv, object: clone(obj) };
    this.history.push(event);
    if (!this.holdWatchEvents) for (const w of this.watchers) this.send(w, event);
  }

  private send(w: Watcher, e: WatchEvent): void {
    w.lastRv = Math.max(w.lastRv, e.rv);
    if (matches(e.object, w.fieldSelector, w.namespace)) w.res.write(JSON.stringify({ type: e.type, object: e.object }) + '\n');
  }

  /** Streams what a watcher missed while events were held. */
  releaseWatchEvents(): void {
    this.holdWatchEvents = false;
    for (const w of this.watchers) for (const e of this.history) if (e.rv > w.lastRv) this.send(w, e);
  }

  private reply(req: IncomingMessage, res: ServerResponse, log: RequestLog, code: number, body: unknown): void {
    log.status = code;
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
    void req;
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams);
    const log: RequestLog = { method: req.method ?? 'GET', path: url.pathname, query, contentType: req.headers['content-type'], status: 0 };
    this.requests.push(log);
    const fail = (code: number, reason: string, message: string, details?: Record<string, unknown>) => this.reply(req, res, log, code, status(code, reason, message, details));
    try {
      const discovery = req.method === 'GET' ? this.discovery(url.pathname) : undefined;
      if (discovery) return this.reply(req, res, log, 200, discovery);
      let m: RegExpExecArray | null;
      if ((m = /^\/api\/v1(?:\/namespaces\/([^/]+))?\/pods$/.exec(url.pathname)) && req.method === 'GET') {
        const ns = m[1] ?? null;
        const sel = parseFieldSelector(query.fieldSelector);
        if (query.watch === 'true' || query.watch === '1') return this.watch(res, log, ns, sel, query.resourceVersion);
        if (this.podListDelayMs) await new Promise((r) => setTimeout(r, this.podListDelayMs));
        const rv = Number(query.resourceVersion ?? 0);
        if (rv > 0 && rv < this.compactedThrough) return fail(410, 'Expired', `The resourceVersion for the provided list is too old.`);
        const items = [...this.pods.values()].filter((p) => matches(p, sel, ns));
        return this.reply(req, res, log, 200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) }, items });
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(url.pathname))) {
        const [, ns, name] = m;
        const pod = this.pods.get(`${ns}/${name}`);
        if (!pod) return fail(404, 'NotFound', `pods "${name}" not found`, { name, kind: 'pods' });
        if (req.method === 'GET') return this.reply(req, res, log, 200, pod);
        if (req.method === 'PATCH') {
          const type = (req.headers['content-type'] ?? '').split(';')[0];
          if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
            return fail(415, 'UnsupportedMediaType', `the emulated server does not apply ${type} patches`);
          }
          const patch = (await this.readBody(req)) as { metadata?: { resourceVersion?: string } };
          if (this.podPatchDelayMs) await new Promise((r) => setTimeout(r, this.podPatchDelayMs));
          const wantRv = patch?.metadata?.resourceVersion;
          if (wantRv !== undefined && wantRv !== pod.metadata.resourceVersion) {
            return fail(409, 'Conflict', `Operation cannot be fulfilled on pods "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: 'pods' });
          }
          const patched = mergePatch(clone(pod), patch) as KObject;
          this.commit(this.pods, `${ns}/${name}`, patched, 'MODIFIED');
          return this.reply(req, res, log, 200, patched);
        }
      }
      if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps(?:\/([^/]+))?$/.exec(url.pathname))) {
        const [, ns, name] = m;
        if (req.method === 'GET' && name) {
          if (this.configMapReadDelayMs) await new Promise((r) => setTimeout(r, this.configMapReadDelayMs));
          const cm = this.configMaps.get(`${ns}/${name}`);
          return cm ? this.reply(req, res, log, 200, cm) : fail(404, 'NotFound', `configmaps "${name}" not found`, { name, kind: 'configmaps' });
        }
        const body = (await this.readBody(req)) as KObject;
        if (req.method === 'POST' && !name) {
          const key = `${ns}/${body.metadata.name}`;
          if (this.configMaps.has(key)) return fail(409, 'AlreadyExists', `configmaps "${body.metadata.name}" already exists`, { name: body.metadata.name, kind: 'configmaps' });
          const created = { ...body, metadata: { ...body.metadata, namespace: ns, uid: `uid-cm-${body.metadata.name}` } };
          this.commit(this.configMaps, key, created, 'ADDED');
          if (this.configMapWriteDelayMs) await new Promise((r) => setTimeout(r, this.configMapWriteDelayMs));
          return this.reply(req, res, log, 201, created);
        }
        if (req.method === 'PUT' && name) {
          const current = this.configMaps.get(`${ns}/${name}`);
          if (!current) return fail(404, 'NotFound', `configmaps "${name}" not found`, { name, kind: 'configmaps' });
          if (body.metadata.name !== name) return fail(400, 'BadRequest', 'the name of the object does not match the name on the URL');
          const wantRv = body.metadata.resourceVersion;
          // ConfigMaps allow unconditional updates; a given resourceVersion must be the current one.
          if (wantRv && wantRv !== current.metadata.resourceVersion) {
            return fail(409, 'Conflict', `Operation cannot be fulfilled on configmaps "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: 'configmaps' });
          }
          const updated = { ...body, metadata: { ...body.metadata, namespace: ns, uid: current.metadata.uid } };
          this.commit(this.configMaps, `${ns}/${name}`, updated, 'MODIFIED');
          if (this.configMapWriteDelayMs) await new Promise((r) => setTimeout(r, this.configMapWriteDelayMs));
          return this.reply(req, res, log, 200, updated);
        }
      }
      return fail(404, 'NotFound', `the emulated server does not serve ${req.method} ${url.pathname}`);
    } catch (e) {
      if (!res.headersSent) fail(400, 'BadRequest', (e as Error).message);
    }
  }

  /**
   * Legacy (unaggregated) discovery for the kinds contid's manifests use, so kubectl can map
   * kinds to resources; kubectl falls back to it when the server does not answer aggregated.
   */
  private discovery(path: string): unknown {
    const r = (name: string, kind: string, namespaced: boolean) => ({
      name,
      singularName: kind.toLowerCase(),
      namespaced,
      kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    });
    const groups: Record<string, ReturnType<typeof r>[]> = {
      v1: [r('namespaces', 'Namespace', false), r('pods', 'Pod', true), r('configmaps', 'ConfigMap', true), r('serviceaccounts', 'ServiceAccount', true)],
      'apps/v1': [r('daemonsets', 'DaemonSet', true)],
      'rbac.authorization.k8s.io/v1': [r('clusterroles', 'ClusterRole', false), r('clusterrolebindings', 'ClusterRoleBinding', false), r('roles', 'Role', true), r('rolebindings', 'RoleBinding', true)],
    };
    if (path === '/version') return { major: '1', minor: '32', gitVersion: 'v1.32.0-emulated', platform: 'linux/amd64' };
    if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}` }] };
    if (path === '/apis') {
      const named = Object.keys(groups).filter((gv) => gv.includes('/'));
      return {
        kind: 'APIGroupList',
        apiVersion: 'v1',
        groups: named.map((gv) => ({ name: gv.split('/')[0], versions: [{ groupVersion: gv, version: 'v1' }], preferredVersion: { groupVersion: gv, version: 'v1' } })),
      };
    }
    const gv = path === '/api/v1' ? 'v1' : path.startsWith('/apis/') ? path.slice('/apis/'.length) : null;
    if (gv && groups[gv]) return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources: groups[gv] };
    return undefined;
  }

  private watch(res: ServerResponse, log: RequestLog, ns: string | null, sel: Record<string, string>, rvParam: string | undefined): void {
    log.status = 200;
    // No Content-Length: node:http sends Transfer-Encoding: chunked, one JSON event a line.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    const from = Number(rvParam ?? 0);
    const w: Watcher = { res, namespace: ns, fieldSelector: sel, lastRv: from };
    if (from > 0 && from < this.compactedThrough) {
      this.expiredWatchOpens++;
      res.end(JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${this.compactedThrough})`) }) + '\n');
      return;
    }
    if (from === 0) {
      // No resourceVersion: the current state as synthetic ADDED events, then changes.
      for (const p of this.pods.values()) this.send(w, { type: 'ADDED', rv: Number(p.metadata.resourceVersion), object: p });
      w.lastRv = this.rv;
    } else if (!this.holdWatchEvents) {
      for (const e of this.history) if (e.rv > from) this.send(w, e);
    }
    res.flushHeaders();
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
  }
}
