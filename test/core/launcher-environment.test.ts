import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launcherScript } from '../../packages/cli/src/launcher';
import { CONTID_MAIN, tempStateDir } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { EmulatedApiServer } from '../kubernetes/emulated-api-server';

/*
 * The launcher `contid install self` writes (launcherScript, written here into a temp directory
 * rather than over /usr/local/bin/contid) starts the built CLI: a search it starts runs without
 * NODE_EXTRA_CA_CERTS, the Kubernetes agent it starts keeps it — read from each running
 * process's /proc/PID/environ, which holds the environment its execve was given.
 */
describe('contid started through the launcher: NODE_EXTRA_CA_CERTS', () => {
  const state = tempStateDir('launcher-env');
  const launcher = join(state.dir, 'contid');
  // a real certificate file, as the variable names on a machine that sets it
  const caFile = [process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt'].find((f) => f && existsSync(f)) ?? join(state.dir, 'none.pem');
  const env: NodeJS.ProcessEnv = { ...state.env, NODE_EXTRA_CA_CERTS: caFile };
  const server = new EmulatedApiServer();
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(caFile)) writeFileSync(caFile, '');
    writeFileSync(launcher, launcherScript(process.execPath, CONTID_MAIN, false));
    chmodSync(launcher, 0o755);
    await server.start();
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await server.stop();
    state.cleanup();
  });

  /** The launcher started with `args`; resolves its exit code. */
  function start(args: string[], stdin: 'pipe' | 'ignore'): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
    const child = spawn(launcher, args, { env, stdio: [stdin, 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return { child, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))), stderr: () => stderr };
  }

  /** The environment of the running process `pid` once the launcher's sh has exec'd node (its command line is then node's). */
  async function environOfNode(pid: number): Promise<string[]> {
    await waitFor('node in place of the launcher', () => readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').includes(CONTID_MAIN));
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  }

  it('a search runs without it (the rest of the environment as given)', async () => {
    // reading stdin: the search waits, running, until stdin closes
    const search = start(['search', '-m', 'SYSCALL', '-if', '-'], 'pipe');
    const environ = await environOfNode(search.child.pid!);
    expect(environ.filter((v) => v.startsWith('NODE_EXTRA_CA_CERTS='))).toEqual([]);
    expect(environ).toContain(`CONTID_STATE_DIR=${env.CONTID_STATE_DIR}`);
    search.child.stdin!.end();
    expect(await search.exited).toBe(1);
    expect(search.stderr()).toBe('contid: no audit records: the input is empty\n');
  });

  it('the Kubernetes agent keeps it, and works through the launcher', async () => {
    const kubeconfig = join(state.dir, 'kubeconfig');
    writeFileSync(kubeconfig, server.kubeconfig());
    const agent = start(['agent', 'kubernetes', '--node', 'worker-1', '--namespace', 'contid-system', '--kubeconfig', kubeconfig, '--resync', '1'], 'ignore');
    const environ = await environOfNode(agent.child.pid!);
    expect(environ).toContain(`NODE_EXTRA_CA_CERTS=${caFile}`);
    try {
      // it runs: it claimed its prefix from the API server (how it stops is agent-cli.test's)
      await waitFor('the prefix claim', () => server.getConfigMap('contid-system', 'contid-node-prefixes')?.data, 20_000);
      await waitFor('the agent watching', () => /watching pods of node worker-1/.test(agent.stderr()), 20_000);
    } finally {
      agent.child.kill('SIGKILL');
    }
    await agent.exited;
  });
});
