import { callService } from '@contid/service';
import { uniqueName } from '../helpers/cli';
import { securityEngine, startNestedContainer, stopNestedSuite } from './docker-engine';
import { ServiceProcess, tagSelf } from './harness';

type Step = { step: string; ok: boolean; code?: string; error?: string; result?: unknown };

const FLOOD_MS = 12_000;

async function timed<T>(fn: () => Promise<T> | T): Promise<{ ms: number; value: T }> {
  const t = Date.now();
  const value = await fn();
  return { ms: Date.now() - t, value };
}

/**
 * Root in a default Docker container (no audit capabilities) holding only its nested channel:
 * it forges journal lines through what it sends, probes for containers outside its subtree,
 * and floods the channel from many connections. Own dockerd (label "hardening").
 */
describe('root in a default Docker container vs contid serve: forged log lines, existence oracle, flood', () => {
  const engine = securityEngine('hardening');
  const service = new ServiceProcess('abuse');
  const suffix = uniqueName('abuse');
  const victimName = `web-${suffix}`;
  let victim: string;
  let steps = new Map<string, Step>();
  const idle: number[] = [];
  const underFlood: number[] = [];
  let execUnderFlood = { ms: 0, ok: false };

  const hostShow = (): Promise<{ ms: number; value: unknown }> => timed(() => callService(service.socket, { op: 'show', ref: victim }));

  beforeAll(async () => {
    await engine.start();
    await service.start();
    const r = tagSelf(service.socket, victimName, { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    victim = String(r.reply.contid);
    for (let i = 0; i < 5; i++) idle.push((await hostShow()).ms);

    const abuser = await startNestedContainer(engine, service.socket, `abuser-${suffix}`, 'nested-abuse.js', [victim, victimName, String(FLOOD_MS), '16']);
    const readSteps = (): Map<string, Step> => abuser.steps();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !readSteps().has('flood-start')) await new Promise((r) => setTimeout(r, 200));
    // The host keeps working while the container floods: show requests and a whole tagging client.
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 3; i++) {
      underFlood.push((await hostShow()).ms);
      await new Promise((r) => setTimeout(r, 300));
    }
    const exec = await timed(() => tagSelf(service.socket, `host-during-flood-${suffix}`, { env: service.env }));
    execUnderFlood = { ms: exec.ms, ok: exec.value.reply.ok === true };
    while (Date.now() < deadline + 60_000 && !readSteps().has('done')) await new Promise((r) => setTimeout(r, 500));
    steps = readSteps();
    if (process.env.CONTID_TEST_VERBOSE) process.stdout.write(JSON.stringify({ idle, underFlood, execUnderFlood, steps: [...steps.values()] }, null, 1) + '\n');
  }, 300_000);

  afterAll(async () => {
    await stopNestedSuite(engine, service);
  }, 120_000);

  it('cannot forge a journal line through a newline or escape sequence in what it sends', () => {
    expect(steps.get('forge-log-newline')).toMatchObject({ ok: false });
    const lines = service.log.split('\n');
    expect(lines.filter((l) => l.startsWith('contid serve: end by pid 1 uid 0'))).toEqual([]);
    expect(lines.filter((l) => /[\r\x1b]/.test(l))).toEqual([]);
    expect(service.log).toContain('x\\ncontid serve: end by pid 1');
  });

  it('learns nothing about containers outside its subtree: the victim reads as unknown, like a container that never existed', () => {
    const answer = (s: string): Step => steps.get(s)!;
    expect(answer('show-victim-contid')).toEqual({ step: 'show-victim-contid', ok: false, code: answer('show-absent-contid').code, error: answer('show-absent-contid').error!.replace('4242424242', victim) });
    expect(answer('show-victim-name')).toEqual({ step: 'show-victim-name', ok: false, code: answer('show-absent-name').code, error: answer('show-absent-name').error!.replace('no-such-container-anywhere', victimName) });
    expect(answer('show-victim-contid').error).toMatch(/unknown container/);
  });

  it('a flood on its nested channel leaves the host channel responsive and the journal short', () => {
    expect(steps.get('flood')).toMatchObject({ ok: true });
    // Thousands of requests (megabytes) went out before back-pressure held the writer.
    expect((steps.get('flood')!.result as { sent: number }).sent).toBeGreaterThan(2_000);
    // Idle, a host show takes milliseconds; before the fix the flood blocked the service for 18–36 s.
    // The bound is loose on purpose (a loaded 2-core machine); the ratio is measured by `pnpm bench service`.
    expect(Math.max(...underFlood)).toBeLessThan(3_000);
    expect(execUnderFlood.ok).toBe(true);
    expect(execUnderFlood.ms).toBeLessThan(10_000);
    // Requests are counted and summarised, not logged one line each.
    if (process.env.CONTID_TEST_VERBOSE) process.stdout.write(service.log);
    expect(service.log.split('\n').length).toBeLessThan(200);
    expect(service.log).toMatch(/channel of \d+: \d+ more requests not logged one by one \(/);
    expect(service.alive()).toBe(true);
  });
});
