import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRecordKey, verifyMac } from '@contid/core';
import { Attributor, AuditEvent, parseRecord } from '@contid/audit';
import { field, waitForAudit } from '../helpers/audit';
import { contid, run, uniqueName } from '../helpers/cli';
import { AS_NOBODY_WITH_AUDIT_WRITE, FIXTURES, ServiceProcess, tagSelf } from './harness';

const FORGE = join(FIXTURES, 'forge-record.js');

/** The msg body of a raw user record (the text inside msg='…'), as the MAC covers it. */
function body(line: string): string {
  const m = /msg='(.*?) exe=/.exec(line);
  if (!m) throw new Error(`no msg body in ${line}`);
  return m[1];
}

/**
 * Forged bindings on the real kernel: other programs and a non-root process with
 * CAP_AUDIT_WRITE (setpriv uid 65534, ambient audit_write) write VIRT_CONTROL/USER records
 * claiming a real container. Each forgery fails at least one leg of the trust rule of
 * docs/records.md (kernel-stamped uid 0, allow-listed exe, valid mac=), while contid's own
 * record passes all three; `contid search --show-rejected` must list them.
 */
describe('forged binding records (real kernel, real auditd)', () => {
  const service = new ServiceProcess('forge');
  const tmp = mkdtempSync(join(tmpdir(), 'contid-sec-forge-'));
  const otherProgram = join(tmp, 'not-contid');
  const tag = uniqueName('forge');
  let genuine: { contid: string; session: number; line: string };
  const forged: { how: string; name: string; line: string }[] = [];

  beforeAll(async () => {
    await service.start();
    const r = tagSelf(service.socket, `genuine-${tag}`, { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    const [line] = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', `genuine-${tag}`], (l) => l.length > 0);
    genuine = { contid: String(r.reply.contid), session: Number(r.reply.session), line };
    copyFileSync(process.execPath, otherProgram);
    run('chmod', ['755', otherProgram]);
  });
  afterAll(async () => {
    await service.stop();
    service.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });

  /** A binding that claims the genuine container for a session the forger controls. */
  const claim = (name: string, mac: string | null): string =>
    `virt=docker op=setns vm="${name}" uuid=? vm-pid=1 vm-ses=${genuine.session + 100000} contid=${genuine.contid} parent-contid=? ns=? node=?${mac ? ` mac=${mac}` : ''}`;

  const attacks: [string, (name: string) => string[]][] = [
    ['uid 65534 with CAP_AUDIT_WRITE through the allow-listed node binary', (n) => [...AS_NOBODY_WITH_AUDIT_WRITE, process.execPath, FORGE, '2500', claim(n, '0123456789abcdef')]],
    ['root through another program (a renamed copy of node)', (n) => [otherProgram, FORGE, '2500', claim(n, '0123456789abcdef')]],
    ['root through the allow-listed exe, guessing the mac', (n) => [process.execPath, FORGE, '2500', claim(n, 'deadbeefdeadbeef')]],
    ['root through the allow-listed exe, no mac at all', (n) => [process.execPath, FORGE, '2500', claim(n, null)]],
    ['root through auditctl -m (a USER record)', (n) => ['auditctl', '-m', claim(n, '0123456789abcdef')]],
  ];

  it.each(attacks)('%s: the kernel accepts the record, and the trust rule rejects it', async (how, argv) => {
    const name = `forged-${forged.length}-${tag}`;
    const [cmd, ...args] = argv(name);
    const sent = run(cmd, args);
    expect(sent.status).toBe(0);
    const lines = await waitForAudit(['--vm-name', name], (l) => l.length > 0);
    expect(lines).toHaveLength(1);
    const line = lines[0];
    forged.push({ how, name, line });
    const key = readRecordKey(service.stateDir)!;
    const trusted = field(line, 'uid') === '0' && field(line, 'exe') === process.execPath && verifyMac(body(line), key) === true;
    expect(trusted).toBe(false);
  });

  it("contid's own record passes every leg of the same rule", () => {
    const key = readRecordKey(service.stateDir)!;
    expect(field(genuine.line, 'uid')).toBe('0');
    expect(field(genuine.line, 'exe')).toBe(process.execPath);
    expect(verifyMac(body(genuine.line), key)).toBe(true);
  });

  it('the attribution engine (@contid/audit Attributor, on the real log lines) ignores and counts every forged binding', () => {
    const attributor = new Attributor({ key: readRecordKey(service.stateDir) });
    const event = (line: string): AuditEvent => {
      const rec = parseRecord(line)!;
      return { time: rec.time, timeMs: rec.timeMs, serial: rec.serial, node: rec.node, records: [rec] };
    };
    attributor.observe(event(genuine.line));
    for (const f of forged) attributor.observe(event(f.line));
    // Every forgery is rejected: the four VIRT_CONTROL ones and the USER record carrying a binding.
    expect(forged.filter((f) => f.line.startsWith('type=VIRT_CONTROL'))).toHaveLength(4);
    expect(attributor.rejectedCount).toBe(forged.length);
    // The session every forgery claimed stays unattributed; the genuine binding holds.
    const probe = (ses: number): AuditEvent => event(`type=USER_CMD msg=audit(1.000:1): pid=1 uid=0 auid=0 ses=${ses} msg='cmd=true'`);
    expect(attributor.attribute(probe(genuine.session + 100000))).toBeNull();
    expect(attributor.attribute(probe(genuine.session))?.contid).toBe(BigInt(genuine.contid));
  });

  it('contid search --show-rejected lists every forgery and attributes none of them', () => {
    const r = contid(['search', '--show-rejected'], { env: service.env });
    expect(r.status).toBe(0);
    for (const f of forged) expect([f.how, r.stdout.includes(f.name)]).toEqual([f.how, true]);
    const attributed = contid(['search', '--container', genuine.contid], { env: service.env });
    for (const f of forged) expect([f.how, attributed.stdout.includes(f.name)]).toEqual([f.how, false]);
  });
});
