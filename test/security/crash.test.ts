import { ServiceProcess, registrySnapshot, tagSelf, tagSelfAsync } from './harness';

/**
 * kill -9 of the real service while 50 clients tag themselves at once, then a restart: every
 * acknowledged binding is in the registry, no ID is issued twice, SQLite's integrity holds.
 */
describe('contid serve: kill -9 in the middle of 50 concurrent tagging requests (real kernel)', () => {
  const service = new ServiceProcess('crash');
  afterAll(async () => {
    await service.stop();
    service.cleanup();
  });

  it('loses no acknowledged binding and issues no duplicate ID', async () => {
    await service.start();
    const clients = Array.from({ length: 50 }, (_, i) => tagSelfAsync(service.socket, `crash-${i}`, service.env));
    // Kill once some requests have been answered and others are still on their way.
    const deadline = Date.now() + 30_000;
    while ((service.log.match(/: ok contid=/g) ?? []).length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await service.kill9();
    const replies = await Promise.all(clients);

    const acknowledged = replies.filter((r) => r.ok === true);
    const refused = replies.filter((r) => r.ok !== true);
    expect(acknowledged.length).toBeGreaterThanOrEqual(10);
    expect(refused.length).toBeGreaterThan(0); // the kill really happened mid-way
    for (const r of refused) expect(String(r.error)).toMatch(/contid service|cannot reach|closed the connection|ECONNREFUSED|ENOENT/);

    await service.start();
    const after = registrySnapshot(service.stateDir);
    expect(after.integrity).toBe('ok');
    const byId = new Map(after.containers.map((c) => [String(c.contid), c]));
    for (const r of acknowledged) {
      expect(byId.get(String(r.contid))).toMatchObject({ name: expect.stringMatching(/^crash-\d+$/), session: r.session, init_pid: r.pid });
      expect(after.bindings.filter((b) => String(b.contid) === String(r.contid))).toEqual([expect.objectContaining({ session: r.session, pid: r.pid, op: 'create' })]);
    }
    const ids = after.containers.map((c) => String(c.contid));
    expect(new Set(ids).size).toBe(ids.length);
    // Every row has exactly its one binding: nothing half written by the kill.
    expect(after.bindings).toHaveLength(after.containers.length);

    // After the restart the service tags again, with an ID above every earlier one.
    const again = tagSelf(service.socket, 'after-restart', { env: service.env });
    expect(again.reply).toMatchObject({ ok: true });
    expect(ids.every((id) => BigInt(id) < BigInt(String(again.reply.contid)))).toBe(true);
    process.stdout.write(`crash: ${acknowledged.length} acknowledged, ${refused.length} cut off, ${after.containers.length} rows after restart, lost 0\n`);
  });
});
