import http from 'node:http';
import net from 'node:net';
import { chmodSync, chownSync, renameSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import { peerCredentials } from '@contid/service';
import { ApiRoute, isFullId, routeOf } from './api-routes';
import { Requester, RequesterStore, requesterOf } from './requesters';

export interface FrontOptions {
  /** Where clients connect (the usual /var/run/docker.sock). */
  listen: string;
  /** Where dockerd really listens (its -H unix://…). */
  upstream: string;
  requesters: RequesterStore;
  log?: (line: string) => void;
}

/**
 * A transparent front for the Docker API socket. Every byte is relayed (plain requests through
 * Node's HTTP parser, hijacked attach/exec and BuildKit sessions as raw streams); the front
 * only looks at the calls that make processes run (create, start, exec) and notes the client
 * that asked — from SO_PEERCRED and /proc, never from the request — for the runtime shim.
 *
 * Fail-open: when the front stops, `listen` becomes a symlink to the real socket, so clients
 * reach dockerd directly (without requester identity) rather than not at all.
 */
export class DockerFront {
  private readonly server: http.Server;
  private readonly who = new WeakMap<net.Socket, Requester | null>();
  private readonly agent = new http.Agent({ keepAlive: true, maxFreeSockets: 4 });
  private readonly log: (line: string) => void;

  constructor(private readonly o: FrontOptions) {
    this.log = o.log ?? (() => undefined);
    this.server = http.createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 60_000 }, (req, res) => void this.relay(req, res));
    this.server.timeout = 0;
    this.server.on('connection', (socket: net.Socket) => this.who.set(socket, this.identify(socket)));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void this.hijack(req, socket, head));
    this.server.on('clientError', (_e, socket: net.Socket) => socket.destroy());
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
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.agent.destroy();
  }

  private async relay(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const route = routeOf(req.method ?? '', req.url ?? '');
    const who = this.who.get(req.socket) ?? null;
    try {
      if (route && who) await this.before(route, who);
    } catch (e) {
      this.log(`cannot note the requester of ${req.method} ${req.url}: ${(e as Error).message}`);
    }
    const up = http.request({ socketPath: this.o.upstream, agent: this.agent, method: req.method, path: req.url, headers: forwardHeaders(req.rawHeaders) });
    up.on('response', (ures) => {
      if (route && who && (route.kind === 'container-create' || route.kind === 'exec-create') && ures.statusCode === 201) {
        // The new id is in the (small JSON) body: noted before the client sees it, so before it can start it.
        const chunks: Buffer[] = [];
        ures.on('data', (c: Buffer) => chunks.push(c));
        ures.on('end', () => {
          const body = Buffer.concat(chunks);
          this.noteCreated(route.kind === 'container-create' ? 'c' : 'e', body, who);
          res.writeHead(ures.statusCode ?? 502, ures.statusMessage, ures.rawHeaders);
          res.end(body);
        });
        return;
      }
      if (route?.kind === 'container-remove' && ures.statusCode === 204 && isFullId(route.ref)) this.o.requesters.forget('c', route.ref);
      res.writeHead(ures.statusCode ?? 502, ures.statusMessage, ures.rawHeaders);
      res.flushHeaders();
      ures.pipe(res);
    });
    up.on('error', (e) => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: `contid docker front: cannot reach dockerd at ${this.o.upstream}: ${e.message}` }) + '\n');
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  }

  /** Hijacked connections (attach, exec start, BuildKit): the head is replayed, then bytes flow both ways, half-closes included. */
  private async hijack(req: http.IncomingMessage, client: net.Socket, head: Buffer): Promise<void> {
    const route = routeOf(req.method ?? '', req.url ?? '');
    const who = this.who.get(client) ?? null;
    try {
      if (route && who) await this.before(route, who);
    } catch (e) {
      this.log(`cannot note the requester of ${req.method} ${req.url}: ${(e as Error).message}`);
    }
    const upstream = net.connect({ path: this.o.upstream, allowHalfOpen: true });
    let lines = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    upstream.write(lines + '\r\n');
    if (head.length) upstream.write(head);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.pipe(client);
    client.pipe(upstream);
  }

  /** Start and exec start name an existing object: the requester is noted before dockerd acts. */
  private async before(route: ApiRoute, who: Requester): Promise<void> {
    if (route.kind === 'exec-start' && isFullId(route.id)) this.o.requesters.note('e', route.id, who);
    if (route.kind === 'container-start') {
      const id = isFullId(route.ref) ? route.ref : await this.resolve(route.ref);
      if (id) this.o.requesters.note('c', id, who);
    }
  }

  private noteCreated(kind: 'c' | 'e', body: Buffer, who: Requester): void {
    try {
      const id = (JSON.parse(body.toString('utf8')) as { Id?: unknown }).Id;
      if (typeof id === 'string' && isFullId(id)) this.o.requesters.note(kind, id, who);
    } catch (e) {
      this.log(`cannot note the requester of a new ${kind === 'c' ? 'container' : 'exec'}: ${(e as Error).message}`);
    }
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

/** Hop-by-hop headers belong to each connection, not to the request (RFC 9110 §7.6.1). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection']);

function forwardHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
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
