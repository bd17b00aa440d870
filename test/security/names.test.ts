import { callService } from '@contid/service';
import { Registry, parseContainerId } from '@contid/core';
import { ChildProcess, spawn } from 'node:child_process';
import { CONTID_MAIN, contid, uniqueName } from '../helpers/cli';
import { securityEngine, startNestedContainer, stopNestedSuite } from './docker-engine';
import { ServiceProcess } from './harness';

type Step = { step: string; ok: boolean; error?: string; result?: string };

/**
 * A nested orchestrator (a Docker container with CAP_AUDIT_CONTROL and its nested channel) names
 * its children like the host's containers — `web`, runtime id `<web's contid>0` — and the
 * administrator then uses `show`, `exec --setns`, `search` and `end` on the host. Own dockerd
 * (label "hardening"), real service, real auditd.
 */
describe('names: a nested orchestrator cannot take over the host names (real Docker, service, auditd)', () => {
  const engine = securityEngine('hardening');
  const service = new ServiceProcess('names');
  const suffix = uniqueName('names');
  const victimName = `web-${suffix}`;
  const startEpoch = Math.floor(Date.now() / 1000) - 1;
  let victim = '';
  let victimProcess: ChildProcess | undefined;
  let owner: string;
  let steps = new Map<string, Step>();

  beforeAll(async () => {
    await engine.start();
    await service.start();
    // The host's container keeps running (a container whose processes are gone is reconciled as ended).
    victimProcess = spawn(process.execPath, [CONTID_MAIN, 'exec', '--name', victimName, '--', 'sleep', '600'], { env: service.env, stdio: 'ignore' });
    const until = Date.now() + 30_000;
    while (!victim && Date.now() < until) {
      victim = await callService(service.socket, { op: 'show', ref: victimName }).then((c) => String(c.contid), () => '');
      if (!victim) await new Promise((r) => setTimeout(r, 100));
    }
    expect(victim).not.toBe('');

    const orchestrator = await startNestedContainer(engine, service.socket, `nested-orch-${suffix}`, 'nested-names.js', [victim, victimName, suffix], ['--cap-add', 'AUDIT_CONTROL']);
    owner = orchestrator.contid;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !steps.has('done')) {
      await new Promise((r) => setTimeout(r, 300));
      steps = orchestrator.steps() as Map<string, Step>;
    }
    for (const s of ['web', 'only-nested', 'p1', 'p2', 'dup-1', 'dup-2', 'term']) expect([s, steps.get(s)?.ok]).toEqual([s, true]);
  }, 300_000);

  afterAll(async () => {
    victimProcess?.kill('SIGKILL');
    await stopNestedSuite(engine, service);
  }, 120_000);

  const showJson = (ref: string): { status: number | null; contid?: string; stderr: string } => {
    const r = contid(['show', ref, '--json'], { env: service.env });
    return { status: r.status, contid: r.status === 0 ? String((JSON.parse(r.stdout) as { contid: string }).contid) : undefined, stderr: r.stderr };
  };

  it("the attacker's child lives in its parent's namespace of names", () => {
    const reg = Registry.open(service.stateDir, { readonly: true });
    expect(reg.get(parseContainerId(steps.get('web')!.result!))).toMatchObject({ name: victimName, runtimeId: `${victim}0`, parent: parseContainerId(owner) });
    reg.close();
  });

  it("show finds the host's container by its name and by its contid, never the child", () => {
    expect(showJson(victimName)).toMatchObject({ status: 0, contid: victim });
    expect(showJson(victim)).toMatchObject({ status: 0, contid: victim });
    expect(showJson(`only-nested-${suffix}`)).toMatchObject({ status: 0, contid: steps.get('only-nested')!.result });
  });

  it('an ambiguous name is one error line listing the candidates with their parent chains', () => {
    const r = showJson(`dup-${suffix}`);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(`"dup-${suffix}" is ambiguous`);
    expect(r.stderr).toContain(`${steps.get('dup-1')!.result} (dup-${suffix}, in p1-${suffix}[${steps.get('p1')!.result}] < nested-orch-${suffix}[${owner}])`);
    expect(r.stderr).toContain(`${steps.get('dup-2')!.result} (dup-${suffix}, in p2-${suffix}[${steps.get('p2')!.result}]`);
  });

  it('ps and show print a child\'s escape sequences and carriage returns escaped, never raw', () => {
    const term = steps.get('term')!.result!;
    const ps = contid(['ps'], { env: service.env });
    const show = contid(['show', term], { env: service.env });
    for (const r of [ps, show]) {
      expect(r.status).toBe(0);
      expect(r.stdout).not.toMatch(/[\r\x1b\x07]/);
    }
    // ps writes a cell's spaces as \x20 too (one word per column, outside attack 14)
    expect(ps.stdout).toContain(`term-${suffix}\\r\\x1b[2J\\x1b[1;1Hcontid:\\x20all\\x20clear`);
    expect(show.stdout).toContain('runtime id:   \\x1b]0;owned\\x07abcd');
  });

  it("search --container by name or contid yields the host container's events only, never the child's", () => {
    const child = steps.get('web')!.result!;
    for (const ref of [victimName, victim]) {
      const r = contid(['search', '--container', ref, '--start', `@${startEpoch}`, '--format', 'json'], { env: service.env, timeout: 120_000 });
      expect([ref, r.status]).toEqual([ref, 0]);
      const owners = new Set(r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { container: { contid: string } }).container.contid));
      expect([ref, [...owners]]).toEqual([ref, [victim]]);
    }
    // The child's own events are in the log: by its contid, search finds them.
    const own = contid(['search', '--container', child, '--start', `@${startEpoch}`, '--format', 'json'], { env: service.env, timeout: 120_000 });
    expect(own.stdout.trim()).not.toBe('');
  });

  it("an administrator's exec --setns by name is bound into the host's container", () => {
    const r = contid(['exec', '--setns', victimName, '--', 'true'], { env: service.env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const reg = Registry.open(service.stateDir, { readonly: true });
    expect(reg.bindings(parseContainerId(victim)).map((b) => b.op)).toEqual(['create', 'setns']);
    expect(reg.bindings(parseContainerId(steps.get('web')!.result!)).map((b) => b.op)).toEqual(['create']);
    reg.close();
  });

  it("end by name ends the host's container and leaves the child running", () => {
    const r = contid(['end', victimName], { env: service.env });
    expect(r.stderr).toBe('');
    const reg = Registry.open(service.stateDir, { readonly: true });
    expect(reg.get(parseContainerId(victim))!.state).toBe('ended');
    expect(reg.get(parseContainerId(steps.get('web')!.result!))!.state).toBe('running');
    reg.close();
  });
});
