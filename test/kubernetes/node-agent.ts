import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTID_MAIN } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { EmulatedApiServer } from './emulated-api-server';

export interface NodeAgent {
  server: EmulatedApiServer;
  /** What the agent has written to stderr so far (its log). */
  log(): string;
  /** Stops the agent and the server; throws with the agent's stderr unless it exited 0. */
  stop(): Promise<void>;
}

/**
 * `contid agent kubernetes` as node-2 of a cluster whose node-1 already holds ID prefix 1, against
 * the emulated API server, draining the spool of `env`'s state directory; resolves once it drains.
 */
export async function startNodeAgent(dir: string, env: NodeJS.ProcessEnv): Promise<NodeAgent> {
  const server = new EmulatedApiServer();
  await server.start();
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, server.kubeconfig());
  server.putConfigMap({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'contid-node-prefixes', namespace: 'contid-system' }, data: { 'node-1': '1' } });
  const agent = spawn(process.execPath, [CONTID_MAIN, 'agent', 'kubernetes', '--node', 'node-2', '--kubeconfig', kubeconfig, '--resync', '1'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  agent.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
  const stop = async (): Promise<void> => {
    agent.kill('SIGTERM');
    const code = await exited;
    await server.stop();
    if (code !== 0) throw new Error(`agent exited ${code}: ${stderr}`);
  };
  try {
    await waitFor('the agent to claim its prefix and watch the spool', () => /draining/.test(stderr), 30_000);
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
  return { server, log: () => stderr, stop };
}
