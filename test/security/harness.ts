import { ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry } from '@contid/core';
import { CONTID_MAIN, RunResult, run } from '../helpers/cli';

export const FIXTURES = resolve(__dirname, 'fixtures');
export const TAG_SELF = join(FIXTURES, 'tag-self.js');
export const RAW_REQUEST = join(FIXTURES, 'raw-request.js');

/** setpriv prefix for an unprivileged host user (nobody), optionally keeping CAP_AUDIT_WRITE. */
export const AS_NOBODY = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', '-all'];
export const AS_NOBODY_WITH_AUDIT_WRITE = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps', '+audit_write', '--ambient-caps', '+audit_write'];

/** A real `contid serve` process with its own registry and socket, for one test file. */
export class ServiceProcess {
  child: ChildProcess | null = null;
  readonly root: string;
  readonly stateDir: string;
  readonly socket: string;

  constructor(label: string, stateDir?: string) {
    this.root = mkdtempSync(join(tmpdir(), `contid-sec-${label}-`));
    this.stateDir = stateDir ?? join(this.root, 'state');
    this.socket = join(this.root, 'run', 'contid.sock');
  }

  /** The service's stderr: a file, not a pipe, so a test blocked in spawnSync never stalls it. */
  get log(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  get logFile(): string {
    return join(this.root, 'serve.log');
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, CONTID_STATE_DIR: this.stateDir, CONTID_SOCKET: this.socket };
  }

  async start(extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<void> {
    const out = openSync(this.logFile, 'a');
    this.child = spawn(process.execPath, [CONTID_MAIN, 'serve', '--socket', this.socket, ...extraArgs], {
      env: { ...this.env, ...env },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`contid serve exited ${this.child.exitCode}: ${this.log}`);
      if (existsSync(this.socket) && (await answers(this.socket))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`contid serve did not come up: ${this.log}`);
  }

  /** SIGKILL: no clean-up, no flush — the crash case. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await gone;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }

  alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function answers(path: string): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolveAnswer(true);
    });
    s.once('error', () => resolveAnswer(false));
  });
}

/** Runs the thin client fixture (renews its own session, asks the service). */
export function tagSelf(socket: string, name: string, options: { prefix?: string[]; parent?: string; setns?: string; env?: NodeJS.ProcessEnv } = {}): RunResult & { reply: Record<string, unknown> } {
  const argv = [...(options.prefix ?? []), process.execPath, TAG_SELF, socket, name, options.parent ?? '-', ...(options.setns ? ['--setns', options.setns] : [])];
  const r = run(argv[0], argv.slice(1), { env: options.env ?? process.env });
  return { ...r, reply: r.stdout.trim() ? (JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>) : {} };
}

/** tagSelf without blocking the event loop: many clients at once. */
export function tagSelfAsync(socket: string, name: string, env: NodeJS.ProcessEnv): Promise<Record<string, unknown>> {
  return new Promise((resolveReply, reject) => {
    const child = spawn(process.execPath, [TAG_SELF, socket, name], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      const last = out.trim().split('\n').pop();
      resolveReply(last ? (JSON.parse(last) as Record<string, unknown>) : { ok: false, error: `no reply: ${err.trim()}` });
    });
  });
}

/** Sends raw bytes to a socket (optionally as another user) and returns the reply lines. */
export function rawRequest(socket: string, input: string | Buffer, prefix: string[] = []): { lines: Record<string, unknown>[]; result: RunResult } {
  const argv = [...prefix, process.execPath, RAW_REQUEST, socket];
  const result = run(argv[0], argv.slice(1), { input });
  const lines = result.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, result };
}

/** rawRequest without blocking the event loop: for a service running inside the test process. */
export function rawRequestAsync(socket: string, input: string, prefix: string[] = []): Promise<Record<string, unknown>[]> {
  const argv = [...prefix, process.execPath, RAW_REQUEST, socket];
  return new Promise((resolveLines, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () =>
      resolveLines(
        out
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      ),
    );
    child.stdin.end(input);
  });
}

/** The registry's rows, read with plain SQL (not through the Registry's own queries). */
export function registrySnapshot(stateDir: string): { containers: Record<string, unknown>[]; bindings: Record<string, unknown>[]; integrity: string } {
  const file = join(stateDir, 'registry.db');
  if (!existsSync(file)) return { containers: [], bindings: [], integrity: 'ok' };
  const registry = Registry.open(stateDir, { readonly: true });
  const db = registry.db;
  try {
    return {
      containers: db.prepare('SELECT * FROM containers ORDER BY contid').all() as Record<string, unknown>[],
      bindings: db.prepare('SELECT * FROM bindings ORDER BY id').all() as Record<string, unknown>[],
      integrity: String(db.pragma('integrity_check', { simple: true })),
    };
  } finally {
    registry.close();
  }
}

export function sessionOf(pid: number | 'self'): number {
  return Number(readFileSync(`/proc/${pid}/sessionid`, 'utf8').trim());
}
