import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustStore, configFromEnv } from '@contid/core';
import { Attributor, AuditEvent, checkBinding, parseRecord } from '@contid/audit';
import { field, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { contid, run, uniqueName } from '../helpers/cli';
import { AS_NOBODY_WITH_AUDIT_WRITE, FIXTURES, ServiceProcess, tagSelf } from './harness';

const FORGE = join(FIXTURES, 'forge-record.js');

/** The signed part of contid's record (payload and signature), as contid handed it to libaudit. */
function signedText(line: string): string {
  const m = /msg='(.*) exe=\S+ hostname=\S+ addr=\S+ terminal=\S+ res=\S+'/.exec(line);
  if (!m) throw new Error(`no msg body in ${line}`);
  return m[1];
}

/**
 * Forged bindings on the real kernel: other programs and a non-root process with
 * CAP_AUDIT_WRITE (setpriv uid 65534, ambient audit_write) write VIRT_CONTROL/USER records
 * claiming a real container. Each forgery fails the trust rule of docs/records.md (kernel uid
 * 0 and an Ed25519 signature by a trusted node key over every field contid wrote), checked
 * with the node's PUBLIC key only, while contid's own record passes; `contid search
 * --show-rejected` must list them.
 */
describe('forged binding records (real kernel, real auditd)', () => {
  const service = new ServiceProcess('forge');
  const tmp = mkdtempSync(join(tmpdir(), 'contid-sec-forge-'));
  const otherProgram = join(tmp, 'not-contid');
  const tag = uniqueName('forge');
  let genuine: { contid: string; session: number; line: string };
  /** The public keys a reader of this installation trusts (no private key, no state directory). */
  const trust = (): TrustStore => TrustStore.load(configFromEnv(service.env).trustDir);
  const forged: { how: string; name: string; line: string }[] = [];
  let mark: ReturnType<typeof logMark>;

  beforeAll(async () => {
    mark = logMark();
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

  /**
   * A binding that claims the genuine container for a session the forger controls, naming the
   * genuine node and key id (both public) with a guessed signature — or none.
   */
  const claim = (name: string, sig: string | null, extra = ''): string => {
    const key = /contid-key=(\S+)/.exec(genuine.line)![1];
    const node = /contid-node=(\S+)/.exec(genuine.line)![1];
    const boot = /contid-boot=(\S+)/.exec(genuine.line)![1];
    const payload = `virt=docker op=setns vm="${name}" uuid=? vm-pid=1 vm-ses=${genuine.session + 100000} contid=${genuine.contid} parent-contid=? ns=? id-prefix=?${extra} contid-node=${node} contid-boot=${boot} contid-time=${Date.now()} contid-key=${key}`;
    return sig === null ? payload : `${payload} contid-sig=${sig}`;
  };
  const GUESS = 'A'.repeat(86);

  const attacks: [string, (name: string) => string[]][] = [
    ['uid 65534 with CAP_AUDIT_WRITE through the node binary', (n) => [...AS_NOBODY_WITH_AUDIT_WRITE, process.execPath, FORGE, '2500', claim(n, GUESS)]],
    ['root through another program (a renamed copy of node)', (n) => [otherProgram, FORGE, '2500', claim(n, GUESS)]],
    ['root through the node binary, guessing the signature', (n) => [process.execPath, FORGE, '2500', claim(n, GUESS)]],
    ['root through the node binary, no signature at all', (n) => [process.execPath, FORGE, '2500', claim(n, null)]],
    ['root through another program, an exe= inside the payload shadowing the trailer', (n) => [otherProgram, FORGE, '2500', claim(n, GUESS, ` exe="${process.execPath}"`)]],
    ['root through auditctl -m (a USER record)', (n) => ['auditctl', '-m', claim(n, GUESS)]],
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
    expect(checkBinding(parseRecord(line)!, { trust: trust() })).not.toMatchObject({ ok: true });
  });

  it("contid's own record verifies with the node's public key alone", () => {
    expect(field(genuine.line, 'uid')).toBe('0');
    expect(checkBinding(parseRecord(genuine.line)!, { trust: trust() })).toMatchObject({ ok: true });
  });

  it('a word-for-word replay of the genuine signed record by root through the node binary is rejected as a duplicate', async () => {
    const sent = run(process.execPath, [FORGE, '2500', signedText(genuine.line)]);
    expect(sent.status).toBe(0);
    const lines = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', `genuine-${tag}`], (l) => l.length > 1, 30_000);
    const attributor = new Attributor({ trust: trust() });
    for (const l of lines) attributor.observeRecord(parseRecord(l)!);
    expect(attributor.rejected.map((r) => r.reason)).toEqual(['duplicate']);
  });

  it('the attribution engine (@contid/audit Attributor, on the real log lines) ignores and counts every forged binding', () => {
    const attributor = new Attributor({ trust: trust() });
    const event = (line: string): AuditEvent => {
      const rec = parseRecord(line)!;
      return { time: rec.time, timeMs: rec.timeMs, serial: rec.serial, node: rec.node, records: [rec] };
    };
    attributor.observe(event(genuine.line));
    for (const f of forged) attributor.observe(event(f.line));
    // Every forgery is rejected: the five VIRT_CONTROL ones and the USER record carrying a binding.
    expect(forged.filter((f) => f.line.startsWith('type=VIRT_CONTROL'))).toHaveLength(5);
    expect(attributor.rejectedCount).toBe(forged.length);
    // The session every forgery claimed stays unattributed; the genuine binding holds.
    const probe = (ses: number): AuditEvent => event(`type=USER_CMD msg=audit(1.000:1): pid=1 uid=0 auid=0 ses=${ses} msg='cmd=true'`);
    expect(attributor.attribute(probe(genuine.session + 100000))).toBeNull();
    expect(attributor.attribute(probe(genuine.session))?.contid).toBe(BigInt(genuine.contid));
  });

  it('contid search --show-rejected lists every forgery and attributes none of them', () => {
    // This run's records only: the host's log holds every earlier run's rejected bindings too,
    // which --show-rejected would list as well.
    const log = join(tmp, 'frozen.log');
    freezeSince(mark, log);
    const r = contid(['search', '--show-rejected', '--input', log], { env: service.env, maxBuffer: 512 << 20, timeout: 300_000 });
    expect(r.status).toBe(0);
    for (const f of forged) expect([f.how, r.stdout.includes(f.name)]).toEqual([f.how, true]);
    const attributed = contid(['search', '--container', genuine.contid, '--input', log], { env: service.env, maxBuffer: 512 << 20, timeout: 300_000 });
    for (const f of forged) expect([f.how, attributed.stdout.includes(f.name)]).toEqual([f.how, false]);
  });
});
