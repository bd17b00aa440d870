import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { MAX_NESTED_CONNECTIONS, callService } from '@contid/service';
import { ServiceProcess, answers, rawRequestAsync, tagSelf } from './harness';

/** Nested channels outlive a crash of the service, close when their container ends, and serve only their container. */
describe('contid serve: nested channel lifecycle (real service, real kernel)', () => {
  const service = new ServiceProcess('channels');
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-channel-'));
  let owner: string;
  beforeAll(async () => {
    await service.start();
    const r = tagSelf(service.socket, 'channel-owner', { env: service.env });
    owner = String(r.reply.contid);
  });
  afterAll(async () => {
    await service.stop();
    service.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  const socket = join(dir, 'contid.sock');

  it('refuses a process that is not inside the owning container, even host root', async () => {
    await callService(service.socket, { op: 'channel', contid: owner, path: dir });
    const [reply] = await rawRequestAsync(socket, JSON.stringify({ v: 1, op: 'show', ref: owner }) + '\n');
    expect(reply).toMatchObject({ ok: false, code: 'denied', error: expect.stringMatching(/is not inside container/) });
  });

  it('caps the connections one container can hold, and the host channel keeps answering', async () => {
    let closed = 0;
    const held = await Promise.all(
      Array.from({ length: MAX_NESTED_CONNECTIONS + 8 }, () => new Promise<net.Socket>((resolveSocket) => {
        const s = net.connect(socket);
        s.on('error', () => undefined);
        s.once('close', () => closed++);
        s.once('connect', () => resolveSocket(s));
      })),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(closed).toBe(8); // the service closed exactly those beyond the cap
    expect(await callService(service.socket, { op: 'show', ref: owner })).toMatchObject({ contid: owner });
    for (const s of held) s.destroy();
  });

  it('is re-opened after kill -9 and restart', async () => {
    await service.kill9();
    await service.start();
    expect(await answers(socket)).toBe(true);
    expect(service.log).not.toMatch(/not re-opening/);
  });

  it('closes when its container ends, and stays closed after a restart', async () => {
    await callService(service.socket, { op: 'end', contid: owner });
    expect(existsSync(socket)).toBe(false);
    await service.stop();
    await service.start();
    expect(existsSync(socket)).toBe(false);
    await expect(callService(service.socket, { op: 'channel', contid: owner, path: dir })).rejects.toThrow(/has ended/);
  });
});
