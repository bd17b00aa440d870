import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { contid } from '../helpers/cli';
import { AS_NOBODY, ServiceProcess } from './harness';

/** `contid serve` itself: only host root may run it, and never twice on one socket. */
describe('contid serve start-up (real kernel)', () => {
  const service = new ServiceProcess('startup');
  beforeAll(() => service.start());
  afterAll(async () => {
    await service.stop();
    service.cleanup();
  });

  it('refuses to run without the audit capabilities: one line, exit 77', () => {
    const r = contid(['serve', '--socket', `${service.root}/nobody/contid.sock`], { prefix: AS_NOBODY, env: service.env });
    expect(r.status).toBe(77);
    expect(r.stderr).toMatch(/^contid: tagging a container needs CAP_AUDIT_CONTROL and CAP_AUDIT_WRITE .*\n$/);
  });

  it('refuses to take over a socket another service answers on, and leaves it serving', async () => {
    const r = contid(['serve', '--socket', service.socket], { env: service.env });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`contid: another contid serve already answers on ${service.socket}\n`);
    expect(service.alive()).toBe(true);
  });

  it('refuses a socket directory others can write to, without touching its mode', () => {
    const open = join(service.root, 'world-writable');
    mkdirSync(open);
    chmodSync(open, 0o1777);
    const r = contid(['serve', '--socket', join(open, 'contid.sock')], { env: service.env });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^contid: .*world-writable is owned by uid 0 with mode 777: a socket there could be replaced by others; .*\n$/);
    expect(statSync(open).mode & 0o7777).toBe(0o1777);
  });

  it('refuses a --nested without its --path', () => {
    const r = contid(['serve', '--socket', `${service.root}/x/contid.sock`, '--nested', '1'], { env: service.env });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('contid: each --nested CONTID needs its own --path DIR\n');
  });
});
