import {
  ContidError,
  KernelAuditSink,
  escapeText,
  Tagger,
  AUDIT_VIRT_CONTROL,
  formatContainerId,
  MAX_NAME_BYTES,
  MAX_ORCHESTRATOR_LENGTH,
  MAX_RUNTIME_ID_BYTES,
  fitReason,
  fitText,
  parseContainerId,
  listenWithMode,
  clearSocketPath,
  makeDirectory,
} from '@contid/core';
import { chmodSync, lstatSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { Caller, CallerGoneError, describeCaller, identifyCaller } from './caller';
import { ChannelStore } from './channel-store';
import { Channel, DeniedError, authorize, perform } from './operations';
import { FairQueue, QueuedConnection } from './fair-queue';
import { DEFAULT_LIMITS, ServiceLimits } from './limits';
import { LogBudget } from './log-budget';
import { PeerCredentials, peerCredentials } from './peer-credentials';
import { ChannelRequest, ErrorReply, PROTOCOL_VERSION, ProtocolError, Reply, Request, isJsonObjectLine, parseRequest, requestIdOf } from './protocol';

export const DEFAULT_SOCKET_PATH = '/run/contid/contid.sock';
/** The socket a nested channel creates inside the directory bind-mounted into its container. */
export const NESTED_SOCKET_NAME = 'contid.sock';

/** Concurrent connections one nested channel may hold; more are closed on accept. */
export const MAX_NESTED_CONNECTIONS = DEFAULT_LIMITS.connectionsPerChannel;
/** Log lines per channel per 10 s before the rest are summarised (host callers are root; nested ones may flood). */
const HOST_LOG_BURST = 200;
const NESTED_LOG_BURST = 20;
/** A connection silent for this long is closed (slow or stuck clients hold no descriptor forever). */
export const IDLE_TIMEOUT_MS = 60_000;

export interface ServiceOptions {
  /** Where diagnostics go (one line each); stderr, i.e. the journal under systemd, by default. */
  log?: (line: string) => void;
  /** Per-connection and per-channel allowances; DEFAULT_LIMITS unless a test or bench narrows them. */
  limits?: Partial<ServiceLimits>;
}

export interface ListenModes {
  /** Directory and socket modes. Root-only (0700/0600) unless a test deliberately opens them. */
  dir?: number;
  socket?: number;
}

/**
 * `contid serve`: the one privileged process that tags. It owns the Tagger (registry and
 * audit socket) and answers line-delimited JSON requests on unix sockets, judging each by
 * the caller's kernel-reported identity. Requests run one at a time on the event loop, so
 * registry writes never interleave.
 */
export class ContidService {
  private readonly servers = new Map<string, { server: net.Server; channel: Channel }>();
  private readonly connections = new Set<net.Socket>();
  private failureSink: KernelAuditSink | null = null;
  private readonly log: (line: string) => void;
  private readonly channels: ChannelStore;
  private readonly limits: ServiceLimits;
  private readonly queue: FairQueue;
  private readonly logs: LogBudget;
  private readonly peers = new Map<QueuedConnection, { channel: Channel; cred: PeerCredentials }>();
  /** Connections that sent a line that is not a request: ended once their queued lines are answered. */
  private readonly closing = new WeakSet<QueuedConnection>();

  constructor(
    readonly tagger: Tagger,
    options: ServiceOptions = {},
  ) {
    const sink = options.log ?? ((line: string) => process.stderr.write(`contid serve: ${line}\n`));
    // Lines quote refs, names and errors that callers chose: escaped, so none forges a line.
    this.log = (line) => sink(escapeText(line));
    this.channels = new ChannelStore(tagger.stateDir);
    this.limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
    this.queue = new FairQueue(this.limits, (line, connection) => this.answerQueued(line, connection));
    this.logs = new LogBudget(this.log, (key) => (key === channelName({ kind: 'host' }) ? HOST_LOG_BURST : NESTED_LOG_BURST));
  }

  /** Re-opens the nested channels of containers still running; forgets the rest. */
  async restoreChannels(): Promise<void> {
    for (const stored of this.channels.load()) {
      try {
        await this.openNested(parseContainerId(stored.contid), stored.dir);
      } catch (e) {
        this.log(`not re-opening the channel of ${stored.contid} in ${stored.dir}: ${(e as Error).message}`);
      }
    }
    this.saveChannels();
  }

  private saveChannels(): void {
    const nested = [...this.servers.entries()].flatMap(([path, { channel }]) =>
      channel.kind === 'nested' ? [{ contid: formatContainerId(channel.owner), dir: dirname(path) }] : [],
    );
    try {
      this.channels.save(nested);
    } catch (e) {
      this.log(`cannot remember nested channels: ${(e as Error).message}`);
    }
  }

  /** A container that ended has no use for its channel: close it so nothing more is created through it. */
  private async closeChannelsOf(owner: ReturnType<typeof parseContainerId>): Promise<void> {
    for (const [path, { server, channel }] of this.servers) {
      if (channel.kind !== 'nested' || channel.owner !== owner) continue;
      this.servers.delete(path);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      this.log(`closed the channel of ${formatContainerId(owner)} (${path}): the container ended`);
    }
    this.saveChannels();
  }

  /** Listens on `path` for `channel`; refuses when another service already answers there. */
  async listen(path: string, channel: Channel, modes: ListenModes = {}): Promise<void> {
    prepareSocketDir(dirname(path), modes.dir);
    if (!(await clearSocketPath(path))) throw new ContidError(`another contid serve already answers on ${path}`);
    const server = net.createServer((socket) => this.accept(socket, channel));
    // A container must not exhaust the service's descriptors and starve the host channel.
    if (channel.kind === 'nested') server.maxConnections = this.limits.connectionsPerChannel;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new ContidError(`cannot listen on ${path}: ${e.code ?? e.message}`)));
      listenWithMode(server, path, modes.socket ?? 0o600, () => resolve());
    });
    this.servers.set(path, { server, channel });
    this.log(`listening on ${path} (${channel.kind === 'host' ? 'host channel' : `nested channel of ${formatContainerId(channel.owner)}`})`);
  }

  /** Opens the per-container channel `<dir>/contid.sock`, meant to be bind-mounted into that container only. */
  async openNested(owner: ReturnType<typeof parseContainerId>, dir: string): Promise<string> {
    const c = this.tagger.containers.get(owner);
    if (!c) throw new ContidError(`unknown container ${formatContainerId(owner)}`);
    if (c.state === 'ended') throw new ContidError(`container ${formatContainerId(owner)} (${c.name}) has ended`);
    const path = join(dir, NESTED_SOCKET_NAME);
    const existing = this.servers.get(path);
    if (existing) {
      if (existing.channel.kind === 'nested' && existing.channel.owner === owner) return path;
      throw new ContidError(`${path} already serves another channel`);
    }
    await this.listen(path, { kind: 'nested', owner });
    this.saveChannels();
    return path;
  }

  async close(): Promise<void> {
    this.queue.close();
    this.logs.close();
    for (const socket of this.connections) socket.destroy();
    await Promise.all([...this.servers.values()].map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.servers.clear();
    this.failureSink?.close();
    this.tagger.close();
  }

  private accept(socket: net.Socket, channel: Channel): void {
    this.connections.add(socket);
    socket.on('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
    let cred: PeerCredentials;
    try {
      cred = peerCredentials(socket);
    } catch (e) {
      this.logs.note(channelName(channel), 'refused', `refused a connection on ${channelName(channel)}: ${(e as Error).message}`);
      socket.destroy();
      return;
    }
    const connection = this.queue.attach(socket, this.queue.lane(channelName(channel), channel.kind === 'host'));
    this.peers.set(connection, { channel, cred });
    socket.on('close', () => this.peers.delete(connection));
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (Buffer.byteLength(line) > this.limits.frameBytes) return this.refuseOversized(socket);
        if (line.trim() === '') continue;
        this.queue.push(connection, line);
        if (!isJsonObjectLine(line)) return this.closeAfterReplies(socket, connection, channel, cred);
      }
      if (Buffer.byteLength(buffered) > this.limits.frameBytes) this.refuseOversized(socket);
    });
  }

  /**
   * A line that is not a JSON object: answered (in order, after what came before it), then the
   * connection is closed and nothing more of it is read — whatever follows may be a request the
   * peer never meant, written by a daemon a user pointed at this socket (isJsonObjectLine).
   */
  private closeAfterReplies(socket: net.Socket, connection: QueuedConnection, channel: Channel, cred: PeerCredentials): void {
    socket.removeAllListeners('data');
    this.closing.add(connection);
    this.logs.note(channelName(channel), 'refused', `closing a connection on ${channelName(channel)} from pid ${cred.pid} uid ${cred.uid}: it sent a line that is not a request (no client does; a daemon made to connect here would), the rest of it is not read`);
  }

  private refuseOversized(socket: net.Socket): void {
    const reply: ErrorReply = { v: PROTOCOL_VERSION, ok: false, code: 'protocol', error: `request larger than ${this.limits.frameBytes} bytes` };
    socket.end(JSON.stringify(reply) + '\n');
    socket.removeAllListeners('data');
  }

  /** One queued request of `connection`, answered; the reply line to write back. */
  private async answerQueued(line: string, connection: QueuedConnection): Promise<string | null> {
    const peer = this.peers.get(connection);
    if (!peer) return null;
    const reply = JSON.stringify(await this.answer(line, peer.channel, peer.cred)) + '\n';
    // The queue writes this reply as soon as it is returned; the end goes after it.
    if (this.closing.has(connection) && connection.lines.length === 0) setImmediate(() => connection.socket.end());
    return reply;
  }

  private async answer(line: string, channel: Channel, cred: ReturnType<typeof peerCredentials>): Promise<Reply> {
    let request: Request | undefined;
    let caller: Caller | undefined;
    try {
      request = parseRequest(line);
      caller = identifyCaller(cred, this.tagger.procRoot);
      authorize(this.tagger, channel, caller, request);
      const result = request.op === 'channel' ? await this.channel(request) : perform(this.tagger, channel, caller, request);
      if (request.op === 'end') await this.closeChannelsOf(parseContainerId(request.contid));
      this.logs.note(channelName(channel), 'ok', `${request.op} by ${describeCaller(caller)} on ${channelName(channel)}: ok${typeof result.contid === 'string' ? ` contid=${result.contid}` : ''}`);
      return { v: PROTOCOL_VERSION, ...(request.id === undefined ? {} : { id: request.id }), ok: true, result };
    } catch (e) {
      const id = request?.id ?? requestIdOf(line);
      const code = e instanceof ProtocolError ? 'protocol' : e instanceof DeniedError || e instanceof CallerGoneError ? 'denied' : 'failed';
      const known = e instanceof ContidError || e instanceof ProtocolError || e instanceof CallerGoneError;
      // Anything else (SQLITE_FULL, an I/O error) is a fault of ours: say it, log it, keep serving.
      const error = known ? (e as Error).message : this.describeFault(e as Error);
      this.logs.note(channelName(channel), code, `${request?.op ?? 'request'} by ${caller ? describeCaller(caller) : `pid ${cred.pid} uid ${cred.uid}`} on ${channelName(channel)}: ${code}: ${error}`);
      if (code === 'failed' && request && (request.op === 'create' || request.op === 'setns')) this.recordFailure(request, caller, error);
      return { v: PROTOCOL_VERSION, ...(id === undefined ? {} : { id }), ok: false, code, error };
    }
  }

  private describeFault(e: Error): string {
    const code = (e as { code?: unknown }).code;
    if (code === 'SQLITE_FULL') return `registry ${this.tagger.stateDir} is full (SQLITE_FULL: ${e.message}); nothing was written`;
    if (typeof code === 'string' && code.startsWith('SQLITE_')) return `registry ${this.tagger.stateDir}: ${code}: ${e.message}`;
    return `internal error: ${e.message}`;
  }

  private async channel(r: ChannelRequest): Promise<Record<string, unknown>> {
    return { contid: r.contid, path: await this.openNested(parseContainerId(r.contid), r.path) };
  }

  /**
   * A tagging that failed (registry full, kernel refused) still leaves an op=fail record, so
   * the trail shows that a process asked and was not tagged, whatever the client then does.
   */
  private recordFailure(r: Request & { op: 'create' | 'setns' }, caller: Caller | undefined, reason: string): void {
    try {
      this.failureSink ??= new KernelAuditSink();
      // Cut to fit: the failure is recorded whatever the caller sent (a refused 9 KB name too).
      const text = this.tagger.signedText({
        op: 'fail',
        orchestrator: fitText(r.op === 'create' ? r.orchestrator : 'contid', MAX_ORCHESTRATOR_LENGTH),
        name: fitText(r.op === 'create' ? r.name : r.contid, MAX_NAME_BYTES),
        runtimeId: r.op === 'create' && r.runtimeId ? fitText(r.runtimeId, MAX_RUNTIME_ID_BYTES) : null,
        pid: caller?.pid ?? null,
        session: caller?.session ?? null,
        contid: r.op === 'setns' ? parseContainerId(r.contid) : null,
        parent: null,
        namespaces: {},
        idPrefix: null,
        reason: fitReason(reason),
      });
      this.failureSink.send(AUDIT_VIRT_CONTROL, text, false);
    } catch (e) {
      this.log(`could not write the op=fail record either: ${(e as Error).message}`);
    }
  }
}

/**
 * A directory we create is root-only. An existing one is never chmod-ed (it may be /tmp or
 * /run) but must be root's and writable by root alone, or someone could swap the socket.
 * An explicit mode (tests) is applied as asked.
 */
function prepareSocketDir(dir: string, mode: number | undefined): void {
  // Created one component at a time under directories nobody else can redirect (makeDirectory);
  // the checks below then name the directory itself, never what a link leads to.
  const real = makeDirectory(dir, mode ?? 0o700);
  if (mode !== undefined) chmodSync(real, mode);
  const st = lstatSync(real);
  if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
    throw new ContidError(`${dir} is owned by uid ${st.uid} with mode ${(st.mode & 0o777).toString(8)}: a socket there could be replaced by others; use a root-owned directory writable by root only`);
  }
}

function channelName(c: Channel): string {
  return c.kind === 'host' ? 'host channel' : `channel of ${formatContainerId(c.owner)}`;
}
