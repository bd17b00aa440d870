import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerClient, inspectContainer } from '../src/client';

/**
 * The agent's inspect of each container it binds, asked without dockerode (which formats every
 * request's options with util.inspect, see dockerGetJson): on one kept-alive connection, a
 * call racing the other end's close made again rather than failed (it failed through Node's
 * global agent, as dockerode asked: the container was then named from Docker's event log, or
 * by its short id), and an answer other than 200 refused as dockerode refuses it.
 */
describe('inspectContainer: one kept-alive connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-docker-get-'));
  const sock = join(dir, 'docker.sock');
  let server: Server;
  let connections = 0;
  /** How many requests the server drops (closes the connection without answering) before answering again. */
  let drop = 0;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (drop > 0) {
        drop--;
        req.socket.destroy();
        return;
      }
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ Id: req.url!.split('/')[2], Name: '/web', Config: { Image: 'busybox', Labels: { a: 'b' } } }));
    });
    server.keepAliveTimeout = 60_000;
    server.on('connection', (s: Socket) => {
      connections++;
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(sock, r));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('five inspects on one connection, each the container asked for', async () => {
    const docker = dockerClient(sock);
    connections = 0;
    for (let i = 0; i < 5; i++) {
      const info = await inspectContainer(docker, `c${i}`);
      expect(info).toMatchObject({ Id: `c${i}`, Name: '/web', Config: { Image: 'busybox', Labels: { a: 'b' } } });
    }
    expect(connections).toBe(1);
  });

  it('a kept connection the other end closes as a call goes out: the call is made again on a new one', async () => {
    const docker = dockerClient(sock);
    await inspectContainer(docker, 'first');
    connections = 0;
    drop = 1;
    await expect(inspectContainer(docker, 'second')).resolves.toMatchObject({ Id: 'second' });
    expect(connections).toBe(1);
  });

  it('an answer other than 200 rejects, as dockerode does (a container Docker no longer knows)', async () => {
    const missing = createServer((_req, res) => {
      res.statusCode = 404;
      res.end('{"message":"No such container: x"}');
    });
    const path = join(dir, 'missing.sock');
    await new Promise<void>((r) => missing.listen(path, r));
    try {
      await expect(inspectContainer(dockerClient(path), 'x')).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      missing.closeAllConnections();
      await new Promise((r) => missing.close(r));
    }
  });
});
