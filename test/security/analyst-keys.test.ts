import { chmodSync, chownSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configFromEnv } from '@contid/core';
import { spawnSync } from 'node:child_process';
import { addExecveRule, deleteExecveRule, field, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { contid, run, tempStateDir, uniqueName } from '../helpers/cli';
import { FIXTURES } from './harness';

/** An analyst: uid 65534 in group adm (auditd's log_group), no capabilities. */
const AS_ADM = ['setpriv', '--reuid', '65534', '--regid', '65534', '--groups', '4', '--inh-caps', '-all'];
const FORGE = join(FIXTURES, 'forge-record.js');

/**
 * A reader of the audit log who is not root (group adm) verifies bindings with public keys
 * only: without the node's key nothing is attributed and stderr names the key to import; with
 * it imported into the analyst's own trust directory, search attributes exactly the
 * container's sessions; a forged binding with a guessed signature binds nothing; a trust
 * directory others could write is not used.
 */
describe('an analyst in group adm verifies bindings with public keys only', () => {
  const state = tempStateDir('sec-analyst');
  const analystDir = join(state.dir, 'analyst');
  const analystKeys = join(analystDir, 'keys');
  const env = { ...state.env, HOME: analystDir };
  const name = uniqueName('analyst-web');
  const key = uniqueName('analyst');
  let session = 0;
  let contidOf = '';
  let other = 0;
  /** The log written during this test, as auditd keeps it: root:adm 0640. */
  const log = join(analystDir, 'audit.log');

  beforeAll(async () => {
    const mark = logMark();
    chmodSync(state.dir, 0o711); // the analyst may pass through to its own directory, not list the state
    mkdirSync(analystDir);
    chownSync(analystDir, 65534, 65534);
    addExecveRule(key);
    const r = contid(['exec', '--name', name, '--', 'sh', '-c', 'ls / >/dev/null; true'], { env });
    expect([r.status, r.stderr]).toEqual([0, '']);
    const [binding] = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 0);
    session = Number(field(binding, 'vm-ses'));
    contidOf = field(binding, 'contid')!;
    // Another session (a second contid exec), then a forged binding claiming it for the victim.
    const second = contid(['exec', '--name', `${name}-2`, '--', 'sh', '-c', 'true'], { env });
    expect(second.status).toBe(0);
    const [b2] = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', `${name}-2`], (l) => l.length > 0);
    other = Number(field(b2, 'vm-ses'));
    const node = /contid-node=(\S+)/.exec(binding)![1];
    const keyId = /contid-key=(\S+)/.exec(binding)![1];
    const forged = `virt=docker op=setns vm="${name}" uuid=? vm-pid=1 vm-ses=${other} contid=${contidOf} parent-contid=? ns=? id-prefix=? contid-node=${node} contid-boot=${'0'.repeat(32)} contid-time=${Date.now()} contid-key=${keyId} contid-sig=${'A'.repeat(86)}`;
    expect(run(process.execPath, [FORGE, '2500', forged]).status).toBe(0);
    await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 1);
    // root on the node exports its public key; the analyst keeps it in a file it owns
    const exported = contid(['keys', 'export'], { env });
    expect(exported.status).toBe(0);
    writeFileSync(join(analystDir, 'node.keys'), exported.stdout);
    chownSync(join(analystDir, 'node.keys'), 65534, 65534);
    await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 1);
    freezeSince(mark, log);
    chownSync(log, 0, 4);
    chmodSync(log, 0o640);
  }, 120_000);
  afterAll(() => {
    deleteExecveRule(key);
    state.cleanup();
  });

  const eventKeys = (lines: string[]): string[] => [...new Set(lines.map((l) => /audit\(([0-9.]+:\d+)\)/.exec(l)?.[1]).filter((k): k is string => k !== undefined))].sort();
  const ausearch = (args: string[]): string[] => spawnSync('ausearch', [...args, '--raw', '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.split('\n');
  const analystSearch = (extra: string[]) => contid(['search', '-if', log, '-c', name, '--no-index', ...extra], { env, prefix: AS_ADM, maxBuffer: 64 << 20 });

  it('the private key is root-only; the public key is readable by all', () => {
    const stateDir = configFromEnv(env).stateDir;
    expect(statSync(join(stateDir, 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, 'keys', 'signing.key')).mode & 0o777).toBe(0o600);
    const cat = run(AS_ADM[0], [...AS_ADM.slice(1), 'cat', join(stateDir, 'keys', 'signing.key')]);
    expect(cat.status).not.toBe(0);
  });

  it('without the node key nothing is attributed, and stderr says which key to import', () => {
    const r = analystSearch(['--trust-dir', analystKeys]);
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/rejected \d+ binding record\(s\) that could not be verified: .*unknown-key/);
    expect(r.stderr).toMatch(/import the signing node's key \(node \S+ key [0-9a-f]{16}.*\): contid keys import --node NODE FILE/);
  });

  it('with the key imported into its own trust directory: exactly the sessions of the container, the forgery binds nothing', () => {
    // the analyst knows which node the file came from (it asked that node's root for it)
    const fromNode = (JSON.parse(readFileSync(join(analystDir, 'node.keys'), 'utf8').split('\n')[0]) as { node: string }).node;
    const imported = contid(['keys', 'import', '--trust-dir', analystKeys, '--node', fromNode, join(analystDir, 'node.keys')], { env, prefix: AS_ADM });
    expect([imported.status, imported.stderr]).toEqual([0, '']);
    const r = analystSearch(['--trust-dir', analystKeys]);
    expect(r.status).toBe(0);
    const got = eventKeys(r.stdout.split('\n'));
    expect(got).toEqual(eventKeys(ausearch(['--session', String(session)])));
    expect(got.length).toBeGreaterThan(2);
    expect(eventKeys(ausearch(['--session', String(other)])).filter((k) => got.includes(k))).toEqual([]);
    const rejected = contid(['search', '-if', log, '--show-rejected', '--trust-dir', analystKeys, '--no-index'], { env, prefix: AS_ADM, maxBuffer: 256 << 20 });
    expect(rejected.stdout).toMatch(new RegExp(`rejected\\(signature\\) .*vm-ses=${other} contid=${contidOf}`));
  });

  it('a trust directory that others can write is not used (a planted key must not verify a forgery)', () => {
    chmodSync(analystKeys, 0o777);
    try {
      const r = analystSearch(['--trust-dir', analystKeys]);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/ignored .*keys: owned by uid 65534 with mode 777 \(must be root's or yours and not group\/world-writable\)/);
    } finally {
      chmodSync(analystKeys, 0o755);
    }
  });
});
