import http from 'node:http';
import net from 'node:net';
import { chmodSync, chownSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { peerCredentials } from '@contid/service';
import { ApiRoute, isFullId } from './api-routes';
import { Relay } from './relay';
import { Requester, RequesterStore, formatRequester, requesterOf } from './requesters';

export interface FrontOptions {
  /** Where clients connect (the usual /var/run/docker.sock). */
  listen: string;
  /** Where dockerd really listens (its -H unix://…). */
  upstream: string;
  requesters: RequesterStore;
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

  constructor(private readonly o: FrontOptions) {
    this.log = o.log ?? (() => undefined);
    this.notes = new RecentNotes(o.requesters);
    this.server = net.createServer({ allowHalfOpen: true }, (client) => this.accept(client));
  }

  private accept(client: net.Socket): void {
    const who = this.identify(client);
    const upstream = net.connect({ path: this.o.upstream, allowHalfOpen: true });
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    new Relay(client, upstream, {
      before: (route) => (who ? this.before(route, who) : undefined),
      wantsBody: (route, status) => who !== null && status === 201 && (route.kind === 'container-create' || route.kind === 'exec-create'),
      body: (route, _status, data) => who && this.noteCreated(route.kind === 'container-create' ? 'c' : 'e', data, who),
      responded: (route, status) => {
        if (route.kind === 'container-remove' && status === 204 && isFullId(route.ref)) this.notes.forget('c', route.ref);
      },
      log: this.log,
    });
  }

  private identify(socket: net.Socket): Requester | null {
    try {
      const cred = peerCredentials(socket);
      return requesterOf(cred.pid, cred.uid);
    } catch {
      return null;
    }
  }

  /** Binds beside `listen`, takes dockerd's socket owner and mode, then renames over `listen` (no moment without a socket). */
  async start(): Promise<void> {
    this.o.requesters.prepare();
    const up = statSync(this.o.upstream);
    if (!up.isSocket()) throw new Error(`${this.o.upstream} is not a socket`);
    const tmp = `${this.o.listen}.contid-front-${process.pid}`;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(tmp, () => resolve());
    });
    chownSync(tmp, up.uid, up.gid);
    chmodSync(tmp, up.mode & 0o777);
    renameSync(tmp, this.o.listen);
    this.o.requesters.prune();
  }

  /** Points `listen` back at dockerd, then closes. */
  async stop(): Promise<void> {
    failOpen(this.o.listen, this.o.upstream);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
    this.agent.destroy();
  }

  /** Start and exec start name an existing object: the requester is noted before dockerd acts. */
  private before(route: ApiRoute, who: Requester): void | Promise<void> {
    if (route.kind === 'exec-start' && isFullId(route.id)) this.notes.note('e', route.id, who);
    if (route.kind !== 'container-start') return;
    if (isFullId(route.ref)) return this.notes.note('c', route.ref, who);
    return this.resolve(route.ref).then((id) => {
      if (id) this.notes.note('c', id, who);
    });
  }

  private noteCreated(kind: 'c' | 'e', body: Buffer, who: Requester): void {
    const id = (JSON.parse(body.toString('utf8')) as { Id?: unknown }).Id;
    if (typeof id === 'string' && isFullId(id)) this.notes.note(kind, id, who);
  }

  /** A name or an id prefix, as dockerd resolves it. */
  private resolve(ref: string): Promise<string | null> {
    return new Promise((resolve) => {
      const r = http.get({ socketPath: this.o.upstream, agent: this.agent, path: `/containers/${encodeURIComponent(ref)}/json` }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Id?: unknown }).Id;
            resolve(typeof id === 'string' && isFullId(id) ? id : null);
          } catch {
            resolve(null);
          }
        });
      });
      r.on('error', () => resolve(null));
    });
  }
}

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

  forget(kind: 'c' | 'e', id: string): void {
    this.last.delete(`${kind}-${id}`);
    this.store.forget(kind, id);
  }
}

/**
 * Points `listen` at the real socket (a symlink, swapped in by rename): clients then reach
 * dockerd directly. Also what a service manager runs after the front exits however it exits
 * (`contid docker front --restore`), so even a killed front fails open.
 */
export function failOpen(listen: string, upstream: string): void {
  const tmp = `${listen}.contid-restore-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    // Not left over.
  }
  symlinkSync(upstream, tmp);
  renameSync(tmp, listen);
}
