import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NodeSigner, parseContainerId, parseLifecycle, readSigner, signLifecycle, splitSignedBody } from '@contid/core';
import { addExecveRule, deleteExecveRule, field, waitForAudit } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

/**
 * Central collection on the engine auditd ships: a collector auditd (`-n -c DIR`,
 * local_events = no, tcp_listen_port on 127.0.0.1) receives two nodes' streams through two
 * audisp-remote processes. Node A is this host: its live log, followed and prefixed with
 * `node=A` as auditd's name_format would write it. Node B is a second node constructed from
 * real records of this machine: the same container's records re-emitted under node B, its
 * binding re-signed with node B's own key for a container of B's — so both nodes have a
 * container on the same session number, and only (node, session) tells them apart.
 */
const REMOTE_CONF = '/etc/audit/audisp-remote.conf';
const PID_FILE = '/run/auditd.pid';
const PORT = 61_000 + (process.pid % 1000);

describe('a collector auditd fed by audisp-remote from two nodes', () => {
  const state = tempStateDir('fleet');
  const collectorDir = join(state.dir, 'collector');
  const collectorLog = join(collectorDir, 'audit.log');
  const nodeA = uniqueName('fleet-a').slice(0, 40);
  const nodeB = uniqueName('fleet-b').slice(0, 40);
  const key = uniqueName('fleet');
  const name = uniqueName('fleet-web');
  const env = { ...state.env, CONTID_NODE_NAME: nodeA };
  const procs: ChildProcess[] = [];
  let savedRemoteConf: string | null = null;
  let savedPid: string | null = null;
  let session = 0;
  let contidA = '';

  /** One audisp-remote process reading lines on stdin, as auditd's dispatcher would feed it. */
  function remote(): ChildProcess {
    const p = spawn('audisp-remote', [], { stdio: ['pipe', 'ignore', 'inherit'] });
    p.stdin!.on('error', () => undefined); // EPIPE while stopping: the collector side is gone
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    mkdirSync(join(collectorDir, 'plugins.d'), { recursive: true });
    const conf = [
      'local_events = no', 'write_logs = yes', `log_file = ${collectorLog}`, 'log_group = root', 'log_format = RAW', 'flush = INCREMENTAL_ASYNC', 'freq = 1',
      'max_log_file = 64', 'num_logs = 2', 'max_log_file_action = ROTATE', 'space_left = 2', 'space_left_action = IGNORE', 'admin_space_left = 1',
      'admin_space_left_action = IGNORE', 'disk_full_action = IGNORE', 'disk_error_action = IGNORE', 'name_format = NONE',
      `tcp_listen_port = ${PORT}`, 'tcp_listen_queue = 5', 'tcp_max_per_addr = 8', 'tcp_client_ports = 1-65535', 'use_libwrap = no', 'transport = TCP',
      'distribute_network = no', `plugin_dir = ${join(collectorDir, 'plugins.d')}`,
    ];
    writeFileSync(join(collectorDir, 'auditd.conf'), `${conf.join('\n')}\n`, { mode: 0o600 });
    // auditd 3.0.9 writes /run/auditd.pid even with -n and removes it when it exits: keep the host's.
    savedPid = existsSync(PID_FILE) ? readFileSync(PID_FILE, 'utf8') : null;
    const collector = spawn('auditd', ['-n', '-c', collectorDir], { stdio: 'ignore' });
    procs.push(collector);
    await waitFor('the collector to listen', () => spawnSync('ss', ['-ltn'], { encoding: 'utf8' }).stdout.includes(`:${PORT} `), 15_000);
    savedRemoteConf = readFileSync(REMOTE_CONF, 'utf8');
    writeFileSync(REMOTE_CONF, savedRemoteConf.replace(/^remote_server *=.*$/m, 'remote_server = 127.0.0.1').replace(/^port *=.*$/m, `port = ${PORT}`));

    // Node A: this host's live log, from now on, through this host's audisp-remote.
    const senderA = remote();
    const follower = spawn('tail', ['-n', '0', '-F', '/var/log/audit/audit.log'], { stdio: ['ignore', 'pipe', 'ignore'] });
    procs.push(follower);
    createInterface({ input: follower.stdout! }).on('line', (line) => {
      const raw = line.split('\x1d')[0]; // the collector keeps raw records
      if (raw.startsWith('type=') && senderA.stdin!.writable) senderA.stdin!.write(`node=${nodeA} ${raw}\n`);
    });
    await new Promise((r) => setTimeout(r, 500));

    addExecveRule(key);
    const r = contid(['exec', '--name', name, '--', 'sh', '-c', 'ls / >/dev/null; cat /etc/hostname >/dev/null; true'], { env });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [binding] = await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.length > 0);
    session = Number(field(binding, 'vm-ses'));
    contidA = field(binding, 'contid')!;
    await waitFor('node A\'s binding at the collector', () => existsSync(collectorLog) && readFileSync(collectorLog, 'latin1').includes(`vm="${name}"`), 30_000);

    // Node B: the same real records of this machine, re-emitted under node B; the binding
    // re-signed with B's own key for B's container (same session number, another contid).
    const stateB = join(state.dir, 'state-b');
    const keysB = contid(['keys', 'rotate'], { env: { ...state.env, CONTID_STATE_DIR: stateB, CONTID_NODE_NAME: nodeB } });
    expect(keysB.status).toBe(0);
    const exported = contid(['keys', 'export'], { env: { ...state.env, CONTID_STATE_DIR: stateB, CONTID_NODE_NAME: nodeB } });
    expect(exported.status).toBe(0);
    const realLines = spawnSync('ausearch', ['--session', String(session), '--raw', '--input-logs'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout
      .split('\n')
      .filter((l) => l.startsWith('type='))
      .map((l) => l.split('\x1d')[0]);
    expect(realLines.length).toBeGreaterThan(5);
    const signB = readSigner(stateB)!;
    const senderB = remote();
    // B's stream interleaved with A's live one, deterministically: between chunks of B's
    // (older stamps) node A tags a new container (a LOGIN, a signed binding, execs under
    // the rule, all stamped now) and the next chunk waits until A's binding is at the collector.
    const linesB = loginAfterItsSyscall(realLines.map((line) => `node=${nodeB} ${line.includes('type=VIRT_CONTROL') ? resign(line, signB) : line}`));
    const chunk = Math.ceil(linesB.length / 5);
    for (let i = 0; i < linesB.length; i += chunk) {
      senderB.stdin!.write(`${linesB.slice(i, i + chunk).join('\n')}\n`);
      const tick = `${name}-tick-${i}`;
      expect(contid(['exec', '--name', tick, '--', 'true'], { env }).status).toBe(0);
      await waitFor(`node A's ${tick} at the collector`, () => readFileSync(collectorLog, 'latin1').includes(`vm="${tick}"`), 30_000);
    }
    deleteExecveRule(key);
    await waitFor("node B's records at the collector", () => readFileSync(collectorLog, 'latin1').includes(linesB[linesB.length - 1]), 30_000);
    const collected = readFileSync(collectorLog, 'latin1').split('\n');
    const ofB = collected.map((l) => l.startsWith(`node=${nodeB} `));
    expect(collected.slice(ofB.indexOf(true), ofB.lastIndexOf(true)).filter((l) => l.startsWith(`node=${nodeA} type=LOGIN `)).length).toBeGreaterThan(0);
    writeFileSync(join(state.dir, 'b.keys'), exported.stdout);
  }, 180_000);

  afterAll(async () => {
    deleteExecveRule(key);
    // The follower first (nothing more is sent), then the senders, then the collector.
    for (const p of [...procs].sort((x, y) => Number(y.spawnfile === 'tail') - Number(x.spawnfile === 'tail'))) {
      p.stdin?.end();
      p.kill('SIGTERM');
    }
    await new Promise((r) => setTimeout(r, 1000));
    if (savedRemoteConf !== null) writeFileSync(REMOTE_CONF, savedRemoteConf);
    if (savedPid !== null) writeFileSync(PID_FILE, savedPid);
    state.cleanup();
  }, 30_000);

  /** A real binding record of this machine re-signed by node B for B's own container. */
  function resign(line: string, signer: NodeSigner): string {
    const m = /^(.*msg=audit\((\d+)\.(\d{3}):\d+\): .*? msg=')(.*)( exe=\S+ hostname=\S+ addr=\S+ terminal=\S+ res=\S+'.*)$/.exec(line)!;
    const split = splitSignedBody(`${m[4]}${m[5].slice(0, -1)}`);
    if (typeof split === 'string') throw new Error(`not a signed binding: ${line}`);
    const life = parseLifecycle(split.fields)!;
    const boot = split.fields.get('contid-boot')!;
    const text = signLifecycle({ ...life, name: `${name}-b`, contid: parseContainerId(String(BigInt(contidA) + 1n)) }, signer, boot, Number(m[2]) * 1000 + Number(m[3]));
    return `${m[1]}${text}${m[5]}`;
  }

  /**
   * The LOGIN record moved after the SYSCALL and PROCTITLE of its own stamp: `ausearch --raw`
   * prints equal stamps in the order of its slots, so a stream relayed from its output may
   * carry them so (the LOGIN event was once missing from B's answer when it did).
   */
  function loginAfterItsSyscall(lines: string[]): string[] {
    const at = lines.findIndex((l) => / type=LOGIN /.test(l));
    expect(at).toBeGreaterThanOrEqual(0);
    const stamp = /audit\([^)]*\)/.exec(lines[at])![0];
    const rest = lines.filter((_l, i) => i !== at);
    let last = -1;
    rest.forEach((l, i) => {
      if (l.includes(stamp)) last = i;
    });
    expect(last).toBeGreaterThanOrEqual(0);
    return [...rest.slice(0, last + 1), lines[at], ...rest.slice(last + 1)];
  }

  const eventKeys = (text: string): string[] => [...new Set([...text.matchAll(/audit\(([0-9.]+:\d+)\)/g)].map((x) => x[1]))].sort();
  const ausearchNode = (node: string): string[] =>
    eventKeys(spawnSync('ausearch', ['--node', node, '--session', String(session), '--raw', '-if', collectorLog], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout);

  it("second node constructed from real records: without node B's key its binding is rejected and the fix is named", () => {
    const r = contid(['search', '-if', collectorLog, '-c', `${name}-b`, '--no-index'], { env });
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`unknown container .*could not be verified: .*unknown-key.*import the signing node's key \\(node ${nodeB} key [0-9a-f]{16}.*contid keys import`));
  });

  it('second node constructed from real records: each node\'s container gets exactly what ausearch --node N --session S returns', () => {
    const imported = contid(['keys', 'import', '--node', nodeB, join(state.dir, 'b.keys')], { env });
    expect(imported.stdout).toMatch(new RegExp(`trusted [0-9a-f]{16} of node ${nodeB}`));
    const a = contid(['search', '-if', collectorLog, '-c', name, '--no-index'], { env, maxBuffer: 64 << 20 });
    const b = contid(['search', '-if', collectorLog, '-c', `${name}-b`, '--no-index'], { env, maxBuffer: 64 << 20 });
    expect([a.status, b.status]).toEqual([0, 0]);
    const expectedA = ausearchNode(nodeA);
    const expectedB = ausearchNode(nodeB);
    expect(expectedA.length).toBeGreaterThan(3);
    expect(eventKeys(a.stdout)).toEqual(expectedA);
    expect(eventKeys(b.stdout)).toEqual(expectedB);
    // the same session number, two containers: never mixed
    expect(a.stdout.split('\n').filter(Boolean).every((l) => l.startsWith(`node=${nodeA} `))).toBe(true);
    expect(b.stdout.split('\n').filter(Boolean).every((l) => l.startsWith(`node=${nodeB} `))).toBe(true);
    // --node selects a node; the node is in every output format
    expect(eventKeys(contid(['search', '-if', collectorLog, '-c', name, '--node', nodeB, '--no-index'], { env }).stdout)).toEqual([]);
    const json = contid(['search', '-if', collectorLog, '-c', `${name}-b`, '--json', '--no-index'], { env, maxBuffer: 64 << 20 }).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(json.every((e: { node: string }) => e.node === nodeB)).toBe(true);
    const ecs = contid(['search', '-if', collectorLog, '-c', `${name}-b`, '--format', 'ecs', '--no-index'], { env, maxBuffer: 64 << 20 }).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(ecs.every((e: { host?: { name?: string } }) => e.host?.name === nodeB)).toBe(true);
    const text = contid(['search', '-if', collectorLog, '-c', `${name}-b`, '--interpret', '--no-index'], { env, maxBuffer: 64 << 20 }).stdout;
    expect(text).toContain(`node=${nodeB}`);
  });
});
