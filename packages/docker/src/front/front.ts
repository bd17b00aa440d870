import http from 'node:http';
import net from 'node:net';
import { chmodSync, chownSync, closeSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { AuditSink, KernelAuditSink, escapeText } from '@contid/core';
import { PeerCredentials, peerCredentials, peerPidfd, pidfdProcessExists } from '@contid/service';
import { ApiRoute, Change, Unattributed, containerTargetFor, formBodyProblem, isFullId, networkTargetFor } from './api-routes';
import type { Head } from './http-framing';
import { Relay, Verdict } from './relay';
import { Requester, RequesterStore, formatRequester, parseRequester, requesterOf } from './requesters';
import { DockerDaemon, daemonOfInfo, storedContainerRefusal } from './start-policy';
import { isHostRoot } from './host-root';
import { DEFAULT_LIMITS, FrontLimits, Holdings, ThrottledLog } from './limits';
import { AUDIT_VIRT_RESOURCE, changeRecord } from './change-record';
import { PolicyContext, Refusal, StoredVolume, containerCreateRefusal, createImage, labelsRefusal, execCreateRefusal, networkAttachBody, networkAttachContainer, networkCreateRefusal, startBodyRefusal, volumeCreateName, volumeCreateRefusal } from './request-policy';
import { formatVolumeNote, nowNs, parseVolumeNote, volumeBorn, volumeKey, volumeMaker } from './volume-makers';

export interface FrontOptions {
  /** Where clients connect (the usual /var/run/docker.sock). */
  listen: string;
  /** Where dockerd really listens (its -H unix://…). */
  upstream: string;
  requesters: RequesterStore;
  /**
   * Calls after which dockerd runs processes no requester can be noted for, relayed for users
   * other than root anyway (`--allow-unattributed`); by default they are refused.
   */
  allowUnattributed?: ReadonlySet<Unattributed>;
  /**
   * Group given the front's socket (0660), as dockerd gives its own (`docker`); default: the
   * upstream socket's group when the front starts.
   */
  gid?: number;
  /** Connections and bytes held for callers other than host root (limits.ts); default DEFAULT_LIMITS. */
  limits?: Partial<FrontLimits>;
  /** Where the records of changes it relays go (change-record.ts); default: the kernel's audit (libaudit), opened at the first. */
  audit?: () => AuditSink;
  log?: (line: string) => void;
}

/**
 * A transparent front for the Docker API socket. Each client connection gets its own
 * connection to dockerd and every byte is relayed unchanged (see Relay: requests are framed,
 * heads parsed, never rewritten); the front only acts on the calls that make processes run
 * (create, start, exec) and notes the client that asked — from SO_PEERCRED and /proc, read once
 * when it connected, never from the request — for the runtime shim.
 *
 * Fail-open: when the front stops, `listen` becomes a symlink to the real socket, so clients
 * reach dockerd directly (without requester identity) rather than not at all.
 */
export class DockerFront {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly agent = new http.Agent({ keepAlive: true, maxFreeSockets: 1 });
  private readonly log: (line: string) => void;
  private readonly notes: RecentNotes;
  /** A start's note as it was before, until dockerd answers the start (keyed by the request's route). */
  private readonly replaced = new WeakMap<ApiRoute, Replaced>();
  /** A change's `changed=` line, until dockerd answers the change (keyed by the request's route). */
  private readonly changed = new WeakMap<ApiRoute, { id: string; line: string }>();
  private readonly daemon: DaemonCache;
  /** The requesters that are the host's root (host-root.ts): the only callers no policy applies to. */
  private readonly hostRoots = new WeakSet<Requester>();
  /** The named volumes a call of a caller other than host root may make, until dockerd answers it (keyed by the request's route). */
  private readonly making = new WeakMap<ApiRoute, MakingVolumes>();
  /** The full id of the container a removal of hers names, until dockerd answers it (keyed by the request's route). */
  private readonly removingContainer = new WeakMap<ApiRoute, string>();
  /** The full id of the network a removal names, until dockerd answers it (keyed by the request's route). */
  private readonly removingNetwork = new WeakMap<ApiRoute, string>();
  private readonly holdings: Holdings;
  /** Lines about limits, at most one per uid and kind every 10 s (an attacker's thousand connections are one line). */
  private readonly limitLog: ThrottledLog;

  constructor(private readonly o: FrontOptions) {
    this.log = o.log ?? (() => undefined);
    this.holdings = new Holdings({ ...DEFAULT_LIMITS, ...o.limits });
    this.limitLog = new ThrottledLog(this.log);
    this.daemon = new DaemonCache(() => this.getJson('/info'));
    this.notes = new RecentNotes(o.requesters);
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
  }

  private accept(client: net.Socket): void {
    const { who, cred } = this.identify(client);
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    // Host root is not limited (limits.ts); anyone else by SO_PEERCRED's uid (-1: none read).
    const uid = who && this.hostRoots.has(who) ? null : (cred?.uid ?? -1);
    if (uid !== null) {
      const refused = this.holdings.admit(uid);
      if (refused) return this.turnAway(client, uid, refused);
      client.once('close', () => this.holdings.leave(uid));
    }
    let held = 0;
    const holding = (bytes: number): string | null => {
      if (uid === null) return null;
      const over = this.holdings.hold(uid, held, bytes);
      if (over === null) held = bytes;
      return over;
    };
    const upstream = net.connect({ path: this.o.upstream, allowHalfOpen: true });
    new Relay(client, upstream, {
      holding,
      limited: (why) => this.limitLog.line(`held ${uid}`, `closed a connection of ${callerOf(uid, cred)}: ${why}`),
      before: (route, head, body) => (who ? this.judged(route, head, who, body) : this.unnamed(route, head, cred)),
      wantsRequestBody: (route) => who !== null && !this.hostRoots.has(who) && JUDGED.has(route.kind),
      // A form body: dockerd would read the call's parameters from it, unseen (formBodyProblem).
      requestProblem: (head, body) => (who !== null && this.hostRoots.has(who) ? null : formBodyProblem(head, body)),
      wantsBody: (route, status) => who !== null && status === 201 && (route.kind === 'container-create' || route.kind === 'exec-create' || route.kind === 'network-create' || (route.kind === 'volume-create' && this.making.get(route)?.unnamed === true)),
      body: (route, _status, data) => {
        if (route.kind === 'volume-create') return this.unnamedVolumeMade(route, data);
        if (route.kind === 'network-create') return who && this.noteNetworkMade(data, who);
        const id = who && this.noteCreated(route.kind === 'container-create' ? 'c' : 'e', data, who);
        const making = this.making.get(route);
        if (id && making) void this.noteAnonymousVolumes(id, making);
      },
      responded: (route, status) => {
        const removed = route.kind === 'container-remove' ? (this.removingContainer.get(route) ?? (isFullId(route.ref) ? route.ref : null)) : null;
        if (removed !== null && status === 204) {
          this.notes.forget('c', removed);
          this.o.requesters.forget('m', removed);
        }
        if (route.kind === 'volume-remove' && status === 204) this.o.requesters.forget('v', volumeKey(route.name));
        const network = this.removingNetwork.get(route);
        if (network && status === 204) this.o.requesters.forget('n', network);
        const making = this.making.get(route);
        // Made only when dockerd made what was asked (201): a refused create (no such image) made
        // no volume, and a note would make hers one root makes under the name just after
        // (outside attack 16, F1).
        if (making && status === 201) this.volumesMade(making);
        const replaced = this.replaced.get(route);
        // Started only on 2xx; a refused or no-op start (304) leaves the earlier note as it was.
        if (replaced) this.notes.answered(replaced, status >= 200 && status < 300);
        const changed = this.changed.get(route);
        // Changed only on 2xx (an attach's 101 never comes here): a refused change is taken back.
        if (changed && !(status >= 200 && status < 300)) this.withdraw(changed);
      },
      log: this.log,
    }, this.holdings.limits.requestTimeoutMs);
  }

  /** A connection over a connection limit: answered 503 (the client prints it) and closed, logged at most every 10 s per uid. */
  private turnAway(client: net.Socket, uid: number, why: string): void {
    this.limitLog.line(`connections ${uid}`, `turned away a connection of ${callerOf(uid, null)}: ${why}`);
    const body = JSON.stringify({ message: `contid docker front: ${why}; close some and try again` }) + '\n';
    client.on('error', () => undefined);
    // Nothing it sends is read: the answer is all it gets, then the socket is gone (a paused
    // socket would never see the client's end, and stay open).
    client.pause();
    client.end(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => client.destroy());
  }

  /**
   * The client process, read once as it connected: SO_PEERCRED's pid and uid, its login uid,
   * session and exe from /proc. /proc/<pid> is that process's only while it has not been
   * reaped (pid_max is 32768 here: a pid comes round again in seconds), so SO_PEERPIDFD pins
   * the process itself and /proc is believed only if it still exists after the read. Null
   * `who`: the process that connected is gone (a client that forks, connects in the child and
   * lets it exit), so nobody can be named.
   */
  private identify(socket: net.Socket): { who: Requester | null; cred: PeerCredentials | null } {
    let cred: PeerCredentials;
    try {
      cred = peerCredentials(socket);
    } catch {
      return { who: null, cred: null };
    }
    let pidfd: number | null;
    try {
      pidfd = peerPidfd(socket);
    } catch {
      return { who: null, cred };
    }
    // A kernel before 6.5 has no SO_PEERPIDFD: /proc is read unverified, as before.
    if (pidfd === null) return { who: this.rootMarked(requesterOf(cred.pid, cred.uid), cred), cred };
    try {
      const who = this.rootMarked(requesterOf(cred.pid, cred.uid), cred);
      return { who: who && pidfdProcessExists(pidfd) ? who : null, cred };
    } finally {
      closeSync(pidfd);
    }
  }

  /**
   * A build, a swarm service, a plugin: dockerd then creates and starts processes itself, when
   * it likes, so no note can name the client — they would run with auid 0 and no requester,
   * a sure way for a user in group docker to hide. Refused (403, logged) for everyone but root
   * (who reaches dockerd's own socket anyway, so refusing root would guard nothing) unless
   * `--allow-unattributed` allows that kind.
   */
  private unattributed(what: Unattributed, head: Head, who: Requester, why = 'dockerd runs its processes itself, so they would run with no requester and auid 0'): Verdict | void {
    if (this.hostRoots.has(who) || this.o.allowUnattributed?.has(what)) return;
    this.log(`refused ${escapeText(`${head.method} ${head.url}`)} from ${callerText(who)}: ${what} is not allowed for users other than root`);
    return {
      status: 403,
      message: `contid docker front: ${what} is refused for users other than root: ${why}; root may allow it with contid docker front --allow-unattributed ${what}`,
    };
  }

  /**
   * A client nobody can be named for: calls that run processes (create, start, exec), change a
   * container (CHANGES) or read through its mounts (a cp out) are refused, answered 403 by the front and logged; all else
   * is relayed. Noting SO_PEERCRED's uid alone was the other choice, but it would run the
   * container with no login uid of the client's (the kernel's auid is the point) on the word of
   * a process that made sure it could not be checked — and no client that keeps its connecting
   * process meets this.
   */
  private unnamed(_route: ApiRoute, head: Head, cred: PeerCredentials | null): Verdict | void {
    // A removal too: it frees the container's name for someone else's (outside attack 12, R2).
    const peer = cred ? `pid ${cred.pid}, uid ${cred.uid}` : 'no peer credentials';
    this.log(`refused ${escapeText(`${head.method} ${head.url}`)} from ${cred ? `uid ${cred.uid} (pid ${cred.pid}, gone)` : 'a peer without credentials'}: nobody to note as requester`);
    return {
      status: 403,
      message: `contid docker front: cannot tell who asked: the process that connected (${peer}) is gone; calls that run processes or change a container need a client whose connecting process is still there`,
    };
  }

  /** The group of the front's socket, once started (what fail-open gives dockerd's socket back). */
  private gid: number | undefined;

  /**
   * Binds beside `listen` (root, the group, 0660, as dockerd's own socket), renames it over
   * `listen` (no moment without a socket), then makes dockerd's socket root-only: group
   * `docker` reaching it directly would start containers no front ever noted.
   */
  async start(): Promise<void> {
    this.o.requesters.prepare();
    const up = statSync(this.o.upstream);
    if (!up.isSocket()) throw new Error(`${this.o.upstream} is not a socket`);
    this.gid = this.o.gid ?? up.gid;
    const tmp = `${this.o.listen}.contid-front-${process.pid}`;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(tmp, () => resolve());
    });
    chownSync(tmp, 0, this.gid);
    chmodSync(tmp, 0o660);
    renameSync(tmp, this.o.listen);
    closeUpstream(this.o.upstream);
    this.o.requesters.prune();
    const runtimes = (await this.daemon.get(true))?.runtimes;
    if (runtimes) {
      const contid = [...runtimes.contid].join(', ') || 'none';
      const mandatory = runtimes.contid.has(runtimes.defaultRuntime);
      this.log(`dockerd's default runtime is ${escapeText(runtimes.defaultRuntime)}; contid's: ${escapeText(contid)}${mandatory ? '' : " — the default is not contid's, so containers run untagged unless asked for with --runtime, and other runtimes are not refused"}`);
    }
  }

  /** `method path` asked of dockerd's API on the front's own connection: its status and body parsed as JSON (undefined when not JSON), or why it could not be asked. */
  private askUpstream(method: string, path: string): Promise<{ status: number; body: unknown } | { error: string }> {
    return new Promise((resolve) => {
      const r = http.request({ method, socketPath: this.o.upstream, agent: this.agent, path }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let body: unknown;
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            // Not JSON (or no body): undefined.
          }
          resolve({ status: res.statusCode ?? 502, body });
        });
      });
      r.on('error', (e) => resolve({ error: e.message }));
      r.end();
    });
  }

  /** GET `path` of dockerd's API, parsed (null: no answer, not 200, not JSON). */
  private async getJson(path: string): Promise<unknown> {
    const r = await this.askUpstream('GET', path);
    return 'error' in r || r.status !== 200 || r.body === undefined ? null : r.body;
  }

  /** Points `listen` back at dockerd (whose socket gets the front's group again), then closes. */
  async stop(): Promise<void> {
    failOpen(this.o.listen, this.o.upstream, this.gid);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.agent.destroy();
    this.auditSink?.close();
  }

  /** `who`, remembered as host root when it is (uid 0 in the front's own pid and user namespaces). */
  private rootMarked(who: Requester | null, cred: PeerCredentials): Requester | null {
    if (who && isHostRoot(cred.pid, cred.uid)) this.hostRoots.add(who);
    return who;
  }

  /**
   * A caller other than host root: the configuration a call hands dockerd (its body, see
   * request-policy.ts) is judged before anything else is done for it; refused calls are answered
   * 403 and logged, the rest go on to `before`.
   */
  private judged(route: ApiRoute, head: Head, who: Requester, body: Buffer | undefined): void | Verdict | Promise<Verdict | void> {
    if (body === undefined || this.hostRoots.has(who)) return this.before(route, head, who);
    const verdict = (refusal: Refusal | null): Verdict | null => refusal && this.policyRefused(refusal, head, who);
    if (route.kind === 'container-create') return this.judgedCreate(route, body, head, who, verdict);
    if (route.kind === 'volume-create') return verdict(volumeCreateRefusal(body)) ?? this.judgedVolumeCreate(route, volumeCreateName(body), head, who);
    if (route.kind === 'exec-create') return verdict(execCreateRefusal(body)) ?? this.judgedExec(route.ref, head, who);
    if (route.kind === 'network-create') return verdict(networkCreateRefusal(body)) ?? this.before(route, head, who);
    if (route.kind === 'network-attach') {
      const named = networkAttachContainer(body);
      if ('what' in named) return this.policyRefused(named, head, who)!;
      // Relayed naming the container by the full id judged (outside attack 15, F3: by the name,
      // it connected root's container made under that name after the judging to her network).
      return this.owned(named.container, 'network connect or disconnect of', head, who).then((r) => ('id' in r ? { target: head.url, body: networkAttachBody(body, r.id) } : r));
    }
    const refusal = route.kind === 'container-start' ? startBodyRefusal(body) : null;
    return verdict(refusal) ?? this.before(route, head, who);
  }

  /**
   * A create judged with dockerd's runtimes; asked again before refusing another runtime (an admin
   * may have added contid's since). The named volumes it mounts that do not exist yet are dockerd's
   * to make for it, so she is noted as their maker once dockerd answers (volumesMade).
   */
  private async judgedCreate(route: ApiRoute, body: Buffer, head: Head, who: Requester, verdict: (r: Refusal | null) => Verdict | null): Promise<Verdict | void> {
    const seen = new Map<string, StoredVolume | null | undefined>();
    const refusal = await this.judgedWith((daemon, volume) => containerCreateRefusal(body, { uid: who.uid, runtimes: daemon.runtimes, allowed: this.o.allowUnattributed, volume }), seen);
    if (refusal === 'no /info') return { status: 502, message: "contid docker front: cannot read dockerd's runtimes (/info); not creating a container it cannot check" };
    const refused = verdict(refusal) ?? verdict(await this.imageLabelsRefusal(body));
    if (refused) return refused;
    this.making.set(route, { who, names: [...seen].filter(([, v]) => v === null).map(([name]) => name), known: new Set(seen.keys()), since: nowNs(), unnamed: false });
    return this.before({ kind: 'container-create' }, head, who);
  }

  /**
   * The labels of the image a create names, as dockerd has it now (labelsRefusal: the container
   * gets them, and her commit or a pulled image sets any). An image dockerd does not have is its
   * to answer (404; the CLI pulls it and creates again, judged again).
   */
  private async imageLabelsRefusal(body: Buffer): Promise<Refusal | null> {
    const image = createImage(body);
    if (image === null) return null;
    const r = await this.askUpstream('GET', `/images/${encodeURIComponent(image)}/json`);
    if ('error' in r || r.status !== 200) return null;
    return labelsRefusal((r.body as { Config?: { Labels?: unknown } | null } | undefined)?.Config?.Labels, `image ${JSON.stringify(image)}`);
  }

  /**
   * A volume create by a caller other than host root: a name that exists is refused unless it is
   * hers (dockerd answers 201 with the volume it has, root's too, and her note on it would make it
   * hers); a new name, or none (dockerd picks one), is noted as hers once dockerd answers.
   */
  private async judgedVolumeCreate(route: ApiRoute, name: string | null, head: Head, who: Requester): Promise<Verdict | void> {
    if (name !== null) {
      const volume = await this.volumeOf(name);
      if (volume === undefined) return { status: 502, message: `contid docker front: cannot look up volume ${JSON.stringify(name)}` };
      if (volume !== null) {
        if (volume.madeBy === who.uid) return;
        return this.policyRefused({ what: `volume create of the existing volume ${JSON.stringify(name)}`, why: "it was not made by you through the front (it may be root's), and creating it again would answer with it as it is; name a new volume" }, head, who)!;
      }
    }
    this.making.set(route, { who, names: name === null ? [] : [name], known: new Set(), since: nowNs(), unnamed: name === null });
  }

  /** dockerd answered a call that may have made the volumes `m` names: she is noted as their maker, for the volumes born while the call went on (volume-makers.ts). */
  private volumesMade(m: MakingVolumes): void {
    m.until = nowNs();
    for (const name of m.names) this.noteVolume(name, m);
  }

  private noteVolume(name: string, m: MakingVolumes): void {
    try {
      this.o.requesters.write('v', volumeKey(name), formatVolumeNote(m.who, name, m.since, m.until ?? nowNs()));
    } catch (e) {
      this.log(`cannot note the maker of volume ${escapeText(name)}: ${escapeText((e as Error).message)}`);
    }
  }

  /** The 201 of a volume create that named none: the name dockerd picked is in its answer. */
  private unnamedVolumeMade(route: ApiRoute, data: Buffer): void {
    const m = this.making.get(route);
    const name = (JSON.parse(data.toString('utf8')) as { Name?: unknown }).Name;
    if (m && typeof name === 'string' && name !== '') this.noteVolume(name, m);
  }

  /**
   * The anonymous volumes her container create made (`-v /path`, the image's VOLUMEs: not in its
   * Binds or Mounts, named by dockerd): hers too, so that a recreate that mounts them by name
   * (compose keeps a service's anonymous volumes so) is allowed. Looked up after the answer: her
   * start does not mount them by name.
   */
  private async noteAnonymousVolumes(id: string, m: MakingVolumes): Promise<void> {
    const r = await this.askUpstream('GET', `/containers/${id}/json`);
    if ('error' in r || r.status !== 200) return;
    const mounts = (r.body as { Mounts?: unknown } | undefined)?.Mounts;
    for (const mount of Array.isArray(mounts) ? (mounts as { Type?: unknown; Name?: unknown }[]) : []) {
      if (mount?.Type === 'volume' && typeof mount.Name === 'string' && mount.Name !== '' && !m.known.has(mount.Name)) this.noteVolume(mount.Name, m);
    }
  }

  /**
   * `judge` with dockerd's /info (asked again before refusing another runtime: an admin may have
   * added contid's since) and the named volumes it mounts as dockerd has them now: a first
   * judging notes which volumes it asks about, they are looked up, and it judges again.
   */
  private async judgedWith(judge: (daemon: DockerDaemon, volume: PolicyContext['volume']) => Refusal | null, seen?: Map<string, StoredVolume | null | undefined>): Promise<Refusal | null | 'no /info'> {
    let daemon = await this.daemon.get();
    const asked = new Set<string>();
    const first = daemon && judge(daemon, (name) => (asked.add(name), null));
    if (first?.allow === 'runtime') daemon = await this.daemon.get(true);
    if (!daemon) return 'no /info';
    const volumes = new Map(await Promise.all([...asked].map(async (name) => [name, await this.volumeOf(name)] as const)));
    for (const [name, v] of volumes) seen?.set(name, v);
    return judge(daemon, (name) => (volumes.has(name) ? volumes.get(name) : undefined));
  }

  /**
   * Named volume `name` as dockerd has it (null: none; undefined: no answer), with who made it
   * through the front: the note's maker, if the volume's directory was born while the call that
   * made it went on (volume-makers.ts). A note found to be the volume's is touched: it is pruned
   * by age since its last use.
   */
  private async volumeOf(name: string): Promise<StoredVolume | null | undefined> {
    const r = await this.askUpstream('GET', `/volumes/${encodeURIComponent(name)}`);
    if ('error' in r) return undefined;
    if (r.status === 404) return null;
    if (r.status !== 200 || !r.body || typeof r.body !== 'object') return undefined;
    const volume = r.body as StoredVolume & { Mountpoint?: unknown };
    const key = volumeKey(name);
    const note = this.o.requesters.text('v', key);
    const local = volume.Driver === 'local' && typeof volume.Mountpoint === 'string';
    const madeBy = local ? volumeMaker(note === null ? null : parseVolumeNote(note), name, volumeBorn(volume.Mountpoint as string)) : null;
    if (madeBy !== null) this.o.requesters.touch('v', key);
    return { ...volume, madeBy };
  }

  /**
   * An exec into a container that a start of hers would be refused for (one root made with a
   * bind of /, the host's pids, CAP_AUDIT_CONTROL, another runtime…): the exec's processes get
   * what the container reaches, so it is refused as that start would be.
   * Relayed naming the container's full id, so a rename meanwhile cannot put another one there.
   */
  private async judgedExec(ref: string, head: Head, who: Requester): Promise<Verdict> {
    const r = await this.judgedReach(ref, head, who, 'exec into', true);
    return 'container' in r ? { target: containerTargetFor(head.url, r.id) } : r;
  }

  /**
   * The container `ref` names now, for a call that reaches it: refused when it is a `--rm`
   * container someone else made and the call may end it (`ending`: how the refusal names the
   * call; null: not judged so), or, `reaches`, when her start of it would be refused (what it
   * mounts, shares, holds: refusedStart). Else what dockerd's inspect says of it, to be
   * relayed by its full id.
   */
  private async judgedReach(ref: string, head: Head, who: Requester, ending: string | null, reaches: boolean): Promise<Found | Verdict> {
    const found = await this.resolve(ref);
    if ('message' in found) return found;
    const others = ending === null ? null : this.othersAutoRemove(found, ending, ref, who);
    if (others) return this.policyRefused(others, head, who)!;
    return (reaches ? await this.refusedStart(found, head, who, false) : null) ?? found;
  }

  /**
   * A container made with AutoRemove (`docker run --rm`) that `who` did not make through the
   * front: dockerd removes it as soon as it ends, which frees its name for a container of hers,
   * and root's scripted `docker exec NAME` then runs in hers with root's secrets (outside attack
   * 13, F3: her `docker kill`). So whatever may end it — kill, stop, and what reaches its
   * processes or resources (an exec's `kill 1`, an attach's ^C, a cp over what it runs, an update
   * of its memory) — is refused as its removal is (owned). Null: not such a container.
   */
  private othersAutoRemove(found: Found, what: string, ref: string, who: Requester): Refusal | null {
    if (found.container.HostConfig?.AutoRemove !== true) return null;
    const note = this.o.requesters.text('m', found.id);
    const maker = note === null ? null : parseRequester(note);
    if (maker?.uid === who.uid) return null;
    const whose = maker ? `it was made by uid ${maker.uid}, not by you (uid ${who.uid})` : 'it was not made through the front by you';
    return { what: `${what} container ${JSON.stringify(ref)}`, why: `${whose}, with --rm: dockerd removes it when it ends, and its name would be free for a container of yours; this is allowed only for the containers you make` };
  }

  /** A kill or stop by a caller other than host root (othersAutoRemove); relayed by full id, as a start is. */
  private async ending(ref: string, head: Head, who: Requester): Promise<Verdict> {
    const r = await this.judgedReach(ref, head, who, 'ending', false);
    return 'container' in r ? { target: containerTargetFor(head.url, r.id) } : r;
  }

  /**
   * A network removal by a caller other than host root: only of a network she made through the
   * front (its `n` note). Root's network, once removed, leaves its name free for hers, and root's
   * next `--network NAME` joins hers (outside attack 13, F4). Resolved as dockerd resolves it
   * (full id, name, id prefix) and relayed by full id. A ref that names nothing is answered as
   * dockerd answered the look-up.
   */
  private async removingNetworkOf(route: Extract<ApiRoute, { kind: 'network-remove' }>, head: Head, who: Requester): Promise<Verdict> {
    const ref = route.ref;
    const r = await this.askUpstream('GET', `/networks/${encodeURIComponent(ref)}`);
    if ('error' in r) return { status: 502, message: `contid docker front: cannot look up network ${JSON.stringify(ref)}: ${r.error}` };
    const body = (r.body ?? {}) as { Id?: unknown; message?: unknown };
    if (r.status !== 200 || typeof body.Id !== 'string' || !isFullId(body.Id)) {
      return typeof body.message === 'string' && r.status !== 200 ? { status: r.status, message: body.message } : { status: 502, message: `contid docker front: cannot look up network ${JSON.stringify(ref)}: dockerd answered ${r.status}` };
    }
    const note = this.o.requesters.text('n', body.Id);
    const maker = note === null ? null : parseRequester(note);
    if (maker?.uid !== who.uid) {
      const whose = maker ? `it was made by uid ${maker.uid}, not by you (uid ${who.uid})` : 'it was not made through the front by you';
      return this.policyRefused({ what: `removal of network ${JSON.stringify(ref)}`, why: `${whose}; its name would be free for a network of yours that its users then join; remove the networks you make` }, head, who)!;
    }
    this.removingNetwork.set(route, body.Id);
    return { target: networkTargetFor(head.url, body.Id) };
  }

  /** The 201 of a network create: who made it, by the id dockerd gave it (what removingNetworkOf asks). */
  private noteNetworkMade(data: Buffer, who: Requester): void {
    const id = (JSON.parse(data.toString('utf8')) as { Id?: unknown }).Id;
    if (typeof id === 'string' && isFullId(id)) this.o.requesters.note('n', id, who);
  }

  /** A request-policy refusal: 403 with one line, logged with the caller's strings escaped; null when root allowed its kind. */
  private policyRefused(r: Refusal, head: Head, who: Requester): Verdict | null {
    if (r.allow) return this.unattributed(r.allow, head, who, r.why) ?? null;
    this.log(`refused ${escapeText(`${head.method} ${head.url}`)} from ${callerText(who)}: ${escapeText(r.what)}: ${escapeText(r.why)}`);
    return { status: 403, message: `contid docker front: ${r.what} is refused for users other than root: ${r.why}` };
  }

  /**
   * Start and exec start name an existing object: the requester is noted before dockerd acts.
   * A start's earlier note is kept until dockerd answers, to be put back unless it answers 2xx.
   *
   * A start's ref is resolved as dockerd resolves it (full id, then name, then id prefix: a
   * 64-hex ref may well be a name) and the start is relayed naming that full id, so dockerd
   * starts exactly the container noted — never another one renamed into the ref meanwhile,
   * whose earlier note (say, its creator's, still unused) the shim would otherwise take. A ref
   * that names nothing is answered as dockerd answered the look-up, never relayed.
   * Exec ids are looked up only whole (no names, no prefixes), so an exec start needs neither.
   */
  private before(route: ApiRoute, head: Head, who: Requester): void | Verdict | Promise<Verdict | void> {
    if (route.kind === 'unattributed') return this.unattributed(route.what, head, who);
    if (route.kind === 'exec-start') {
      const refused = this.hostRoots.has(who) ? null : this.othersExec(route.id, who);
      if (refused) return this.policyRefused(refused, head, who)!;
      if (isFullId(route.id)) this.notes.note('e', route.id, who);
    }
    if (route.kind === 'container-change') return this.changing(route, route.ref, route.what, head, who);
    if (route.kind === 'container-read') return this.hostRoots.has(who) ? undefined : this.reaching(route.ref, head, who);
    if (route.kind === 'image-tag') return this.hostRoots.has(who) ? undefined : this.retagging(route, head, who);
    if (route.kind === 'image-remove') return this.hostRoots.has(who) ? undefined : this.policyRefused({ what: 'removing or untagging an image (docker rmi, image prune)', why: "the tag may be someone else's, and once removed it would be a new tag you may point at your image (root's next run of it would run your image); root may remove images" }, head, who)!;
    if (route.kind === 'volume-prune') return this.hostRoots.has(who) ? undefined : this.policyRefused({ what: 'docker volume prune', why: "it removes every volume no container uses, root's too, whose names are then free for yours (root's next run with that name would mount your volume); remove the volumes you make by name" }, head, who)!;
    if (route.kind === 'volume-remove') return this.hostRoots.has(who) ? undefined : this.removingVolume(route.name, head, who);
    if (route.kind === 'container-prune') return this.hostRoots.has(who) ? undefined : this.policyRefused({ what: 'docker container prune', why: "it removes every stopped container, root's too, whose names are then free for yours (root's next `docker start NAME` would start your container); remove the containers you make by name" }, head, who)!;
    // Removing root's container frees its name for hers, as a rename would (outside attack 12, R2):
    // root's scripted `docker exec NAME` then ran in her container, with root's secrets.
    // Relayed by the full id judged (outside attack 15, F3: by the name, it removed root's
    // container made under that name after the judging).
    if (route.kind === 'container-remove') {
      if (this.hostRoots.has(who)) return;
      return this.owned(route.ref, 'removal of', head, who).then((r) => {
        if (!('id' in r)) return r;
        this.removingContainer.set(route, r.id);
        return { target: containerTargetFor(head.url, r.id) };
      });
    }
    if (route.kind === 'container-end') return this.hostRoots.has(who) ? undefined : this.ending(route.ref, head, who);
    if (route.kind === 'network-prune') return this.hostRoots.has(who) ? undefined : this.policyRefused({ what: 'docker network prune', why: "it removes every network no container uses, root's too, whose names are then free for yours (root's next run on that network would join yours); remove the networks you make by name" }, head, who)!;
    if (route.kind === 'network-remove') return this.hostRoots.has(who) ? undefined : this.removingNetworkOf(route, head, who);
    if (route.kind === 'container-rename') {
      if (this.hostRoots.has(who)) return;
      return this.owned(route.ref, 'rename of', head, who).then((r) => ('id' in r ? { target: containerTargetFor(head.url, r.id) } : r));
    }
    if (route.kind !== 'container-start') return;
    return this.resolve(route.ref).then(async (found) => {
      if ('message' in found) return found;
      // A restart (routed as a start) ends it first; a start she makes fail (she holds its
      // published port) has dockerd remove it: either frees the name of root's --rm container
      // for hers, as her kill would (outside attack 15, F1).
      const others = this.hostRoots.has(who) ? null : this.othersAutoRemove(found, 'start or restart of', route.ref, who);
      if (others) return this.policyRefused(others, head, who)!;
      const refused = this.hostRoots.has(who) ? null : await this.refusedStart(found, head, who, true);
      if (refused) return refused;
      this.replaced.set(route, this.notes.start(found.id, who));
      return { target: containerTargetFor(head.url, found.id) };
    });
  }

  /**
   * A volume removal by a caller other than host root: only of a volume she made. Root's volume,
   * once removed, would leave its name free for a volume of hers that root's containers then
   * mount (outside attack 11, V3). A name that names no volume is dockerd's to answer.
   */
  private async removingVolume(name: string, head: Head, who: Requester): Promise<Verdict | void> {
    const volume = await this.volumeOf(name);
    if (volume === undefined) return { status: 502, message: `contid docker front: cannot look up volume ${JSON.stringify(name)}` };
    if (volume === null || volume.madeBy === who.uid) return;
    const whose = typeof volume.madeBy === 'number' ? `it was made by uid ${volume.madeBy}, not by you (uid ${who.uid})` : "it was not made by you through the front (it may be root's)";
    return this.policyRefused({ what: `removal of volume ${JSON.stringify(name)}`, why: `${whose}; its name would be free for a volume of yours that its users then mount; remove the volumes you make` }, head, who)!;
  }

  /**
   * An exec start by a caller other than host root of an exec she did not create through the
   * front: dockerd runs the exec's command as its creator set it up (root's `sh` in root's
   * `-v /:/host` agent) with her connection as its stdin, and the exec's id is public (inspect's
   * ExecIDs) — outside attack 11, E1. Her exec create was judged (judgedExec); an exec start is
   * hers only when its create note is of her uid.
   */
  private othersExec(id: string, who: Requester): Refusal | null {
    const note = isFullId(id) ? this.o.requesters.text('e', id) : null;
    const creator = note === null ? null : parseRequester(note);
    if (creator?.uid === who.uid) return null;
    return { what: `exec ${id}`, why: creator ? `it was created by uid ${creator.uid}, not by you (uid ${who.uid}); start the execs you create` : 'it was not created through the front by you; start the execs you create' };
  }

  /**
   * The container `ref` names, when she made it through the front (its `m` note is of `who`'s
   * uid; the `c` note, its last starter's, would also make hers a container of root's she only
   * started); else the refusal of `what` it. A rename of root's container let
   * her take its name, so that root's scripted `docker exec NAME` ran in her container with
   * root's secrets (outside attack 12, R1); a network connect put root's container on a network
   * of hers (P2). dockerd's answer when `ref` names nothing.
   */
  private async owned(ref: string, what: string, head: Head, who: Requester): Promise<{ id: string } | Verdict> {
    const found = await this.resolve(ref);
    if ('message' in found) return found;
    const note = this.o.requesters.text('m', found.id);
    const maker = note === null ? null : parseRequester(note);
    if (maker?.uid === who.uid) return { id: found.id };
    return this.policyRefused({ what: `${what} container ${JSON.stringify(ref)}`, why: maker ? `it was made by uid ${maker.uid}, not by you (uid ${who.uid}); this is allowed only for the containers you make` : 'it was not made through the front by you; this is allowed only for the containers you make' }, head, who)!;
  }

  /**
   * A caller other than host root pointing a tag at an image (api-routes `image-tag`, outside
   * attack 11, I1): only a tag that names no image yet. A tag that exists may be root's, and root's
   * next `docker run -v /:/host TAG` would run her entrypoint as root, attributed to root. A load
   * names its tags inside the archive, unseen here: refused. A form body would give dockerd a
   * `repo` the front never read: refused.
   */
  private async retagging(route: Extract<ApiRoute, { kind: 'image-tag' }>, head: Head, who: Requester): Promise<Verdict | void> {
    const refused = (what: string, why: string): Verdict => this.policyRefused({ what, why }, head, who)!;
    if (route.what === 'load') return refused('docker load', 'the tags it sets are named inside the archive, so it could re-point a tag that is someone else\'s (root\'s next run of it would run your image); root may load it');
    if (/form/i.test(head.headers.get('content-type') ?? '')) return refused(`docker ${route.what} with a form body`, 'dockerd would read its repo and tag from the body, unseen by the front');
    if (route.tag === null) return;
    const r = await this.askUpstream('GET', `/images/${encodeURIComponent(route.tag)}/json`);
    if ('error' in r) return { status: 502, message: `contid docker front: cannot look up image ${JSON.stringify(route.tag)}: ${r.error}` };
    if (r.status === 404) return;
    if (r.status === 200) return refused(`docker ${route.what} to the existing tag ${JSON.stringify(route.tag)}`, 'the tag may be someone else\'s (root\'s next run of it would run your image); name a new tag');
    return { status: 502, message: `contid docker front: cannot look up image ${JSON.stringify(route.tag)}: dockerd answered ${r.status}` };
  }

  /**
   * A call that changes what dockerd's own later runs of the container execute (api-routes
   * CHANGES): who made it is noted on the container's note before dockerd acts, so a probe or
   * restart dockerd makes after it is not stamped with the starter's auid alone. Resolved and
   * relayed by full id, as a start is, so the note is the container's that dockerd changes.
   * Taken back when dockerd refuses it (not 2xx: a cp to a path that is not there, a container
   * that is not running): otherwise anyone could contest anyone's container for free, at no
   * cost to themselves. A 2xx change that changes nothing (`update` with {}) still counts.
   */
  private async changing(route: ApiRoute, ref: string, what: Change, head: Head, who: Requester): Promise<Verdict> {
    const root = this.hostRoots.has(who);
    // A cp writes through the container's mounts, an attach types into its process: as an exec.
    const found = await this.judgedReach(ref, head, who, root ? null : what === 'cp' ? 'docker cp into' : what === 'attach' ? 'attach to' : `${what} of`, !root && (what === 'cp' || what === 'attach'));
    if (!('container' in found)) return found;
    const line = this.notes.change(found.id, what, who);
    if (line !== null) this.changed.set(route, { id: found.id, line });
    this.recordChange(found, what, head, who);
    return { target: containerTargetFor(head.url, found.id) };
  }

  private auditSink: AuditSink | null = null;

  /**
   * Every change relayed (cp in, update, attach with stdin), whoever asked and whatever note the
   * container has, goes into the audit trail naming the requester (change-record.ts; outside
   * attack 13, F9: her cp into root's container was recorded nowhere as hers). Written as it is
   * relayed, before dockerd acts: the record says who asked for it, not whether dockerd did it.
   * When the kernel refuses it (no CAP_AUDIT_WRITE, audit off), the front's log carries it.
   */
  private recordChange(found: Found, what: Change, head: Head, who: Requester): void {
    const text = changeRecord(what, { id: found.id, name: typeof found.container.Name === 'string' ? found.container.Name : null }, who, `${head.method} ${head.url}`);
    try {
      this.auditSink ??= (this.o.audit ?? (() => new KernelAuditSink()))();
      this.auditSink.send(AUDIT_VIRT_RESOURCE, text, true);
    } catch (e) {
      this.log(`cannot write the audit record of a change (${escapeText((e as Error).message)}): ${escapeText(text)}`);
    }
  }

  /**
   * A `docker cp` out of a container (archive GET/HEAD) by a caller other than host root: it
   * reads through the container's mounts (root's `-v /:/host`: /etc/shadow), so it is refused as
   * her start of the container would be. Relayed by full id, as a start is.
   */
  private async reaching(ref: string, head: Head, who: Requester): Promise<Verdict> {
    const r = await this.judgedReach(ref, head, who, null, true);
    return 'container' in r ? { target: containerTargetFor(head.url, r.id) } : r;
  }

  private withdraw(changed: { id: string; line: string }): void {
    try {
      this.notes.withdrawChange(changed.id, changed.line);
    } catch (e) {
      this.log(`cannot take back a change dockerd refused on container ${changed.id}: ${escapeText((e as Error).message)}`);
    }
  }

  /**
   * A start (or, `starting` false, an exec, cp or attach) of a stored container by a caller other than host
   * root, refused when her own create of it would have been (start-policy.ts: the create-time
   * rules on what dockerd itself says the container is now, with her uid). Checked at every
   * start (create-then-start and `docker run` alike). dockerd's /info is asked at most every
   * DAEMON_TTL_MS, and again before refusing a runtime (judgedWith).
   */
  private async refusedStart(found: Found, head: Head, who: Requester, starting: boolean): Promise<Verdict | null> {
    const refusal = await this.judgedWith((daemon, volume) => storedContainerRefusal(found.container.HostConfig, daemon, { uid: who.uid, allowed: this.o.allowUnattributed, volume }));
    if (refusal === 'no /info') return { status: 502, message: "contid docker front: cannot read dockerd's runtimes (/info); not starting a container it cannot check" };
    const verdict = refusal && this.policyRefused(refusal, head, who);
    if (!verdict) return null;
    // dockerd removes an auto-remove container whose start failed, and `docker run --rm` waits
    // for that removal after a failed start: a start dockerd never saw must be followed by it
    // too — but only of her own `run --rm` (made by her, never started), never of someone
    // else's container she cannot start.
    if (starting && found.container.HostConfig?.AutoRemove === true && this.madeBy(found, who)) await this.removeRefused(found.id);
    return verdict;
  }

  /** Whether `found` was made by `who` through the front and has never been started (its note is still its create's). */
  private madeBy(found: Found, who: Requester): boolean {
    if (found.container.State?.StartedAt !== NEVER_STARTED) return false;
    const note = this.o.requesters.text('c', found.id);
    return note !== null && parseRequester(note)?.uid === who.uid;
  }

  private async removeRefused(id: string): Promise<void> {
    const r = await this.askUpstream('DELETE', `/containers/${id}?force=1`);
    if (!('error' in r) && r.status === 204) {
      this.notes.forget('c', id);
      this.o.requesters.forget('m', id);
    }
  }

  /** Notes the new container's or exec's requester (and a container's maker); its id, null when the answer names none. */
  private noteCreated(kind: 'c' | 'e', body: Buffer, who: Requester): string | null {
    const id = (JSON.parse(body.toString('utf8')) as { Id?: unknown }).Id;
    if (typeof id !== 'string' || !isFullId(id)) return null;
    this.notes.note(kind, id, who);
    if (kind === 'c') this.o.requesters.note('m', id, who);
    return id;
  }

  /**
   * The full id of the container `ref` names now (dockerd's inspect resolves a ref as its start
   * does) and what inspect says of it, or dockerd's answer when it names none (404 "No such
   * container: …").
   */
  private async resolve(ref: string): Promise<Found | { status: number; message: string }> {
    const failed = (why: string) => ({ status: 502, message: `contid docker front: cannot look up container ${JSON.stringify(ref)}: ${why}` });
    const r = await this.askUpstream('GET', `/containers/${encodeURIComponent(ref)}/json`);
    if ('error' in r) return failed(r.error);
    const body = (r.body ?? {}) as StoredContainer & { Id?: unknown; message?: unknown };
    if (r.status === 200 && typeof body.Id === 'string' && isFullId(body.Id)) return { id: body.Id, container: body };
    if (r.status !== 200 && typeof body.message === 'string') return { status: r.status, message: body.message };
    return failed(`dockerd answered ${r.status}`);
  }
}

/** What the front reads of dockerd's inspect of a container (`GET /containers/{id}/json`). */
interface StoredContainer {
  Name?: unknown;
  HostConfig?: { AutoRemove?: unknown; [field: string]: unknown } | null;
  State?: { StartedAt?: unknown } | null;
}

/** A container a ref named: its full id and its inspect. */
interface Found {
  id: string;
  container: StoredContainer;
}

/**
 * The named volumes a call may make for a caller other than host root: `names` did not exist
 * when it was judged; `known` are all it mounts by name (anything else its container mounts is
 * anonymous, made by it); `since`/`until`: when it went to dockerd and when dockerd answered.
 */
interface MakingVolumes {
  who: Requester;
  names: string[];
  known: ReadonlySet<string>;
  since: bigint;
  until?: bigint;
  /** A volume create that named none: dockerd's answer names it. */
  unnamed: boolean;
}

/** dockerd's StartedAt of a container never started (Go's zero time). */
const NEVER_STARTED = '0001-01-01T00:00:00Z';

/** The calls whose body a caller other than host root has judged (request-policy.ts). */
const JUDGED: ReadonlySet<ApiRoute['kind']> = new Set(['container-create', 'exec-create', 'container-start', 'volume-create', 'network-create', 'network-attach']);

/** A limited caller as the front's log names it (null: host root, -1: no peer credentials). */
const callerOf = (uid: number | null, cred: PeerCredentials | null): string => (uid === null ? 'host root' : uid < 0 ? 'a peer without credentials' : `uid ${uid}${cred ? ` (pid ${cred.pid})` : ''}`);

/** A caller as the front's log names it: uid 0 that is not host root is said to be so. */
const callerText = (who: Requester): string => `uid ${who.uid}${who.uid === 0 ? ' (not host root: another pid or user namespace)' : ''} (pid ${who.pid})`;

/**
 * The notes this front wrote last, so that a note already on disk with the same requester is
 * not written again (a `docker run` notes its container at create and at start, an exec at
 * create and at start, all from the same client).
 */
class RecentNotes {
  private readonly last = new Map<string, string>();

  constructor(private readonly store: RequesterStore) {}

  note(kind: 'c' | 'e', id: string, who: Requester): void {
    const key = `${kind}-${id}`;
    const text = formatRequester(who);
    if (this.last.get(key) === text) return;
    this.store.note(kind, id, who);
    this.last.delete(key);
    this.last.set(key, text);
    if (this.last.size > 512) this.last.delete(this.last.keys().next().value!);
  }

  /**
   * A container's start: its note must be on disk, unused and with no changes, until dockerd
   * answers (the shim marks a note used only at the create a start makes). The create's note
   * from the same client is, unless someone changed the container since: what is on disk is
   * compared, so a start always leaves a fresh note; anything else is written, keeping what it
   * said before.
   */
  start(id: string, who: Requester): Replaced {
    this.last.delete(`c-${id}`);
    const text = formatRequester(who);
    const now = this.store.text('c', id);
    if (now === text) return { id, who, before: now };
    return { id, who, before: this.store.replace('c', id, who) };
  }

  /** dockerd answered a start: a refused or no-op start's note is put back (RequesterStore.putBack); either way the shim may have marked it used since. */
  answered(r: Replaced, started: boolean): void {
    if (!started) this.store.putBack(r.id, r.before, r.who);
  }

  /** Someone changed container `id` (see CHANGES). */
  change(id: string, what: Change, who: Requester): string | null {
    return this.store.noteChange(id, what, who);
  }

  /** dockerd refused that change: its line is taken back (RequesterStore.withdrawChange). */
  withdrawChange(id: string, line: string): void {
    this.store.withdrawChange(id, line);
  }

  forget(kind: 'c' | 'e', id: string): void {
    this.last.delete(`${kind}-${id}`);
    this.store.forget(kind, id);
  }
}

/** How long dockerd's `/info` is believed without asking again (its runtimes change only on its reload). */
const DAEMON_TTL_MS = 30_000;

/** What dockerd's `/info` says (start-policy's DockerDaemon), kept a while: a start must not cost an /info call each. */
class DaemonCache {
  private last: { at: number; daemon: DockerDaemon } | null = null;

  constructor(private readonly info: () => Promise<unknown>) {}

  async get(fresh = false): Promise<DockerDaemon | null> {
    if (!fresh && this.last && Date.now() - this.last.at < DAEMON_TTL_MS) return this.last.daemon;
    const info = await this.info();
    if (!info || typeof info !== 'object') return this.last?.daemon ?? null;
    this.last = { at: Date.now(), daemon: daemonOfInfo(info as { DefaultRuntime?: unknown; Runtimes?: unknown; CgroupVersion?: unknown; LoggingDriver?: unknown }) };
    return this.last.daemon;
  }
}

/** A container's note as it was before a start (by `who`) replaced it. */
interface Replaced {
  id: string;
  who: Requester;
  before: string | null;
}

/** dockerd's socket as only root may use it (owner root, mode 0600). */
export function closeUpstream(upstream: string): void {
  chownSync(upstream, 0, 0);
  chmodSync(upstream, 0o600);
}

/**
 * Points `listen` at the real socket (a symlink, swapped in by rename): clients then reach
 * dockerd directly, so its socket is given group `gid` and 0660 again (as dockerd made it).
 * Also what a service manager runs after the front exits however it exits
 * (`contid docker front --restore`), so even a killed front fails open.
 */
export function failOpen(listen: string, upstream: string, gid?: number): void {
  if (gid !== undefined) {
    try {
      chownSync(upstream, 0, gid);
      chmodSync(upstream, 0o660);
    } catch {
      // dockerd is not running: it makes its socket anew when it starts.
    }
  }
  const tmp = `${listen}.contid-restore-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    // Not left over.
  }
  symlinkSync(upstream, tmp);
  renameSync(tmp, listen);
}
