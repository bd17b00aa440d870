import { existsSync } from 'node:fs';
import { contid } from '../helpers/cli';
import { ServiceProcess, registrySnapshot } from './harness';

/** `contid exec` goes through a running service (its socket exists) and falls back to direct mode. */
describe('contid exec through contid serve (real kernel)', () => {
  const service = new ServiceProcess('exec');
  beforeAll(() => service.start());
  afterAll(async () => {
    await service.stop();
    service.cleanup();
  });

  it('tags through the service: the command runs in the session the service bound', () => {
    const r = contid(['exec', '--name', 'via-service', '--', 'cat', '/proc/self/sessionid'], { env: service.env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const session = Number(r.stdout.trim());
    const row = registrySnapshot(service.stateDir).containers.find((c) => c.name === 'via-service');
    expect(row).toMatchObject({ session, state: 'running' });
    expect(service.log).toMatch(/create by pid \d+ uid 0 ses \d+ on host channel: ok/);
  });

  it('enters a container with --setns through the service', () => {
    const r = contid(['exec', '--setns', 'via-service', '--', 'cat', '/proc/self/sessionid'], { env: service.env });
    expect(r.status).toBe(0);
    const snap = registrySnapshot(service.stateDir);
    const id = snap.containers.find((c) => c.name === 'via-service')!.contid;
    expect(snap.bindings.filter((b) => b.contid === id).map((b) => [b.op, b.session])).toEqual([
      ['create', expect.any(Number)],
      ['setns', Number(r.stdout.trim())],
    ]);
  });

  it('falls back to tagging directly when the socket is there but nobody answers', async () => {
    await service.kill9(); // a crashed service leaves its socket file behind
    expect(existsSync(service.socket)).toBe(true);
    const r = contid(['exec', '--name', 'direct-fallback', '--', 'true'], { env: { ...service.env, CONTID_SOCKET: service.socket } });
    expect(r.status).toBe(0);
    expect(registrySnapshot(service.stateDir).containers.map((c) => c.name)).toContain('direct-fallback');
    await service.start();
  });
});
