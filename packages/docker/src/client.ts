import { Agent, request } from 'node:http';
import type Dockerode from 'dockerode';
import { ContidError } from '@contid/core';

export type { default as Dockerode } from 'dockerode';

/**
 * A Docker API client on a unix socket (default: DOCKER_HOST's, else /var/run/docker.sock).
 * dockerode (with ssh2 and grpc) costs ≈ 90 ms to load, so it is required only when a client
 * is made: every `contid` command, hooks included, would pay it otherwise.
 */
export function dockerClient(socketPath?: string): Dockerode {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Docker = require('dockerode') as typeof Dockerode;
  const fromEnv = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : undefined;
  return new Docker({ socketPath: socketPath ?? fromEnv ?? '/var/run/docker.sock' });
}

/** A --host option's socket: only unix://PATH is a Docker endpoint contid talks to (undefined: the default). */
export function socketOfHost(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (!host.startsWith('unix://')) throw new ContidError(`--host must be unix:///path/to/docker.sock, got "${host}"`);
  return host.slice('unix://'.length);
}

/** One kept-alive connection per client, for dockerGetJson. */
const keptAlive = new WeakMap<Dockerode, Agent>();

/** A kept connection the other end had closed as the request went out (Node: req.reusedSocket). */
const STALE_CONNECTION = new Set(['ECONNRESET', 'EPIPE']);

/**
 * GET `path` of the Docker API and its JSON answer (rejected unless 200), on a connection kept
 * alive for the next call; null when `docker` is not on a unix socket (then ask through it).
 * The agent inspects every container it binds, and dockerode spends more on each request than
 * the request itself: it formats the request's options with util.inspect (showHidden, no depth
 * limit) for a debug log nobody reads, on every call — given a keep-alive agent of its own, that
 * agent's whole state — and builds a URL to parse again. A call on a kept connection the other
 * end closed as it went out is made once more on a new one (a GET: nothing was done); Node's
 * global agent, which dockerode used, failed it.
 */
export function dockerGetJson(docker: Dockerode, path: string): Promise<unknown> | null {
  const modem = docker.modem as unknown as { socketPath?: unknown; version?: unknown } | undefined;
  const socketPath = modem?.socketPath;
  if (typeof socketPath !== 'string') return null;
  const version = typeof modem?.version === 'string' ? `/${modem.version.replace(/^v?/, 'v')}` : '';
  let agent = keptAlive.get(docker);
  if (!agent) keptAlive.set(docker, (agent = new Agent({ keepAlive: true, maxFreeSockets: 1 })));
  const ask = (again: boolean): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const req = request({ socketPath, path: version + path, agent, headers: { Accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(Object.assign(new Error(`docker ${path}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`), { statusCode: res.statusCode }));
          try {
            resolve(JSON.parse(text) as unknown);
          } catch (e) {
            reject(e);
          }
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (!again && req.reusedSocket && STALE_CONNECTION.has(e.code ?? '')) resolve(ask(true));
        else reject(e);
      });
      req.end();
    });
  return ask(false);
}

/** A container's inspect (see dockerGetJson), through dockerode when the client is not on a unix socket. */
export function inspectContainer(docker: Dockerode, id: string): Promise<Dockerode.ContainerInspectInfo> {
  return (dockerGetJson(docker, `/containers/${encodeURIComponent(id)}/json`) as Promise<Dockerode.ContainerInspectInfo> | null) ?? docker.getContainer(id).inspect();
}
