import net from 'node:net';
import { OkReply, PROTOCOL_VERSION, Reply, Request } from './protocol';

/**
 * The thin client: one connection, requests answered in order. It depends on nothing but
 * Node's net module so it also runs inside containers that only see a bind-mounted channel.
 */

export const SOCKET_ENV = 'CONTID_SOCKET';

/** A request as the caller writes it: the client adds the protocol version and an id. */
export type Outgoing = Request extends infer R ? (R extends Request ? Omit<R, 'v' | 'id'> : never) : never;

/** The service said no (or failed): `code` tells which, `message` is its one-line reason. */
export class ServiceError extends Error {
  override name = 'ServiceError';
  constructor(
    message: string,
    readonly code: 'protocol' | 'denied' | 'failed' | 'unreachable',
  ) {
    super(message);
  }
}

export class ServiceClient {
  private buffered = '';
  private readonly pending: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private nextId = 1;
  private closed: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    const fail = (e: Error): void => {
      this.closed = e;
      for (const p of this.pending.splice(0)) p.reject(e);
    };
    socket.on('error', (e) => fail(new ServiceError(`contid service connection failed: ${(e as NodeJS.ErrnoException).code ?? e.message}`, 'unreachable')));
    socket.on('close', () => fail(new ServiceError('contid service closed the connection', 'unreachable')));
  }

  static connect(path: string, timeoutMs = 10_000): Promise<ServiceClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ServiceError(`contid service at ${path} did not answer within ${timeoutMs} ms`, 'unreachable'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new ServiceClient(socket));
      });
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ServiceError(`cannot reach the contid service at ${path}: ${e.code ?? e.message}`, 'unreachable'));
      });
    });
  }

  /** Sends one request and waits for its reply, error replies included. */
  send(request: Outgoing): Promise<Reply> {
    if (this.closed) return Promise.reject(this.closed);
    const line = JSON.stringify({ v: PROTOCOL_VERSION, id: String(this.nextId++), ...request }) + '\n';
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(line);
    });
  }

  /** Sends one request; resolves with its result, rejects with a ServiceError on an error reply. */
  async call(request: Outgoing): Promise<OkReply['result']> {
    const reply = await this.send(request);
    if (!reply.ok) throw new ServiceError(reply.error, reply.code);
    return reply.result;
  }

  close(): void {
    this.socket.end();
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let newline: number;
    while ((newline = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      const waiter = this.pending.shift();
      if (!waiter) continue;
      try {
        waiter.resolve(JSON.parse(line) as Reply);
      } catch {
        waiter.reject(new ServiceError('contid service sent a reply that is not JSON', 'protocol'));
      }
    }
  }
}

/** One request on a fresh connection. */
export async function callService(path: string, request: Outgoing): Promise<OkReply['result']> {
  const client = await ServiceClient.connect(path);
  try {
    return await client.call(request);
  } finally {
    client.close();
  }
}
