import { Attributor, checkBinding, parseRecord } from '@contid/audit';
import { Registry, TrustStore, configFromEnv, parseContainerId } from '@contid/core';
import { field, waitForAudit } from '../helpers/audit';
import { contid, uniqueName } from '../helpers/cli';
import { securityEngine, startNestedContainer, stopNestedSuite } from './docker-engine';
import { ServiceProcess, tagSelf } from './harness';

type Step = { step: string; ok: boolean; code?: string; error?: string; result?: Record<string, unknown> | number };

/**
 * Root inside real Docker containers (own dockerd, busybox image, host /usr and the repository
 * bind-mounted read-only so the probe runs the real client): it cannot renew its session,
 * cannot reach the host channel, and its nested channel only ever creates children of itself.
 */
describe('root in a real Docker container vs contid (own dockerd, real kernel)', () => {
  const engine = securityEngine();
  const service = new ServiceProcess('docker');
  const suffix = uniqueName('sec');
  let victim: string;

  beforeAll(async () => {
    await engine.start();
    await service.start();
    const r = tagSelf(service.socket, `victim-${suffix}`, { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    victim = String(r.reply.contid);
  }, 240_000);
  afterAll(async () => {
    await stopNestedSuite(engine, service);
  }, 120_000);

  /** Starts a container, tags its init through the host channel, opens its nested channel, runs the probe. */
  async function probe(mode: 'default' | 'capable', extra: string[]): Promise<{ owner: string; name: string; steps: Map<string, Step> }> {
    const name = `${mode}-${suffix}`;
    const container = await startNestedContainer(engine, service.socket, name, 'nested-probe.js', [mode, victim, service.socket, suffix], extra);
    const owner = container.contid;
    const id = container.id;
    const deadline = Date.now() + 60_000;
    let logs = '';
    while (Date.now() < deadline && !logs.includes('"step":"done"')) {
      await new Promise((r) => setTimeout(r, 200));
      logs = engine.docker(['logs', id]).stdout;
    }
    const steps = new Map<string, Step>();
    for (const line of logs.split('\n').filter((l) => l.startsWith('{'))) {
      const s = JSON.parse(line) as Step;
      steps.set(s.step, s);
    }
    expect(steps.has('done')).toBe(true);
    if (process.env.CONTID_TEST_VERBOSE) process.stdout.write(logs);
    return { owner, name, steps };
  }

  const registry = (): Registry => Registry.open(service.stateDir, { readonly: true });

  it('a default container: no session renewal, no host channel, and no way to claim anything', async () => {
    const { owner, steps } = await probe('default', []);
    const reg = registry();
    expect(steps.get('session')!.result).toBe(reg.get(parseContainerId(owner))!.session);
    expect(steps.get('renew-session')).toMatchObject({ ok: false, error: expect.stringMatching(/EPERM/) });
    expect(steps.get('host-channel-visible')!.ok).toBe(false);
    expect(steps.get('host-channel-connect')).toMatchObject({ ok: false, code: 'unreachable', error: expect.stringMatching(/ENOENT/) });
    // Docker keeps CAP_AUDIT_WRITE, and this kernel accepts user records from a container's pid
    // namespace: the forgery lands in the log with uid=0 and an exe= path the container chose.
    // Only the signature (the private key never enters the container) rejects it.
    expect(steps.get('forge-record')).toMatchObject({ ok: true });
    const [forged] = await waitForAudit(['--vm-name', `forged-in-default-${suffix}`], (l) => l.length > 0);
    expect(field(forged, 'uid')).toBe('0');
    expect(field(forged, 'exe')).toBe((steps.get('forge-record')!.result as { exe: string }).exe);
    expect(field(forged, 'ses')).toBe(String(reg.get(parseContainerId(owner))!.session));
    const trust = TrustStore.load(configFromEnv(service.env).trustDir);
    expect(checkBinding(parseRecord(forged)!, { trust })).toMatchObject({ ok: false });
    // The attribution engine (live, @contid/audit) counts it as rejected and binds nothing.
    const attributor = new Attributor({ trust });
    const rec = parseRecord(forged)!;
    attributor.observe({ time: rec.time, timeMs: rec.timeMs, serial: rec.serial, node: rec.node, records: [rec] });
    expect(attributor.rejectedCount).toBe(1);
    const denied = ['create-with-own-session', 'create-for-host-pid-1', 'create-under-victim', 'setns-into-victim', 'end-victim', 'open-channel'];
    for (const step of denied) expect([step, steps.get(step)]).toEqual([step, expect.objectContaining({ ok: false, code: 'denied' })]);
    // Outside its subtree the victim reads as a container that does not exist (no existence oracle).
    expect(steps.get('show-victim')).toMatchObject({ ok: false, code: 'failed', error: `unknown container "${victim}"` });
    expect(steps.get('create-with-own-session')!.error).toMatch(/already bound to container .*renew it first/);
    expect(reg.children(parseContainerId(owner))).toEqual([]);
    const v = reg.get(parseContainerId(victim))!;
    expect(v.state).toBe('running');
    expect(reg.bindings(v.contid)).toHaveLength(1);
    reg.close();
  });

  it('a nested orchestrator (CAP_AUDIT_CONTROL added): every container it makes is its own child', async () => {
    const { owner, name, steps } = await probe('capable', ['--cap-add', 'AUDIT_CONTROL']);
    expect(steps.get('renew-session')).toMatchObject({ ok: true });
    for (const step of ['create-under-victim', 'setns-into-victim', 'end-victim', 'show-victim', 'open-channel', 'create-child-claiming-victim', 'create-for-host-pid-1']) {
      expect([step, steps.get(step)]).toEqual([step, expect.objectContaining({ ok: false })]);
    }
    for (const step of ['create-with-own-session', 'create-child', 'create-child-claiming-no-parent', 'end-own-child']) {
      expect([step, steps.get(step)]).toEqual([step, expect.objectContaining({ ok: true })]);
    }
    // Replies on a nested channel carry no host pids.
    expect(steps.get('create-with-own-session')!.result).not.toHaveProperty('pid');
    expect(steps.get('end-own-child')!.result).not.toHaveProperty('initPid');
    const reg = registry();
    const children = reg.children(parseContainerId(owner));
    expect(children.map((c) => c.name).sort()).toEqual(['evil', `child-a-${suffix}`, `child-b-${suffix}`].sort());
    expect(children.find((c) => c.name === `child-a-${suffix}`)!.state).toBe('ended');
    expect(reg.find(`child-c-${suffix}`)).toBeUndefined();
    expect(reg.children(parseContainerId(victim))).toEqual([]);
    expect(reg.get(parseContainerId(victim))!.state).toBe('running');
    reg.close();

    // The audit trail says the same: the child's record names the nested orchestrator's container.
    const records = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', `child-b-${suffix}`], (l) => l.length > 0);
    expect(field(records[0], 'parent-contid')).toBe(owner);

    // And doctor flags the container that holds CAP_AUDIT_CONTROL, not the default one.
    const doctor = contid(['doctor', '--json'], { env: service.env });
    const check = doctor.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { check: string; status: string; detail: string })
      .find((c) => c.check === 'containers with CAP_AUDIT_CONTROL');
    expect(check).toMatchObject({ status: 'warn', detail: expect.stringContaining(name) });
    expect(check!.detail).not.toContain(`default-${suffix}`);
  });
});
