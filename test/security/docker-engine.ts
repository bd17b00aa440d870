import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { callService } from '@contid/service';
import { DockerEngine } from '../docker/engine';
import { REPO_ROOT } from '../helpers/cli';
import { FIXTURES, ServiceProcess } from './harness';

/** Renews the session per runc call, so each container gets a session of its own. */
export const RUNTIME = 'contid-sec';

/**
 * This area's own Docker engine (roots under /var/lib|/run/contid-test-<label>, "security" by
 * default; a suite that runs beside it passes its own label). Its image
 * has mount points for the host's /usr (node) and the repository, bind-mounted read-only at
 * run time, so the in-container probe speaks through the real client code.
 */
export function securityEngine(label = 'security'): DockerEngine {
  return new DockerEngine({
    label,
    runtimes: { [RUNTIME]: join(FIXTURES, 'runc-renew.sh') },
    image: {
      name: 'contid-security/busybox:1',
      dirs: ['usr', 'proc', 'sys', 'dev', 'etc', 'tmp', 'run', 'work'],
      links: { lib: 'usr/lib', lib64: 'usr/lib64' },
    },
  });
}

/** Nested channel directories the tests created inside the engine's exec root. */
function removeNestedChannels(engine: DockerEngine): void {
  for (const entry of readdirSync(engine.execRoot)) if (entry.startsWith('nested-')) rmSync(join(engine.execRoot, entry), { recursive: true, force: true });
}

/** A nested suite's tear-down: the engine and its containers, their channels, then the service. */
export async function stopNestedSuite(engine: DockerEngine, service: ServiceProcess): Promise<void> {
  await engine.stop();
  removeNestedChannels(engine);
  await service.stop();
  service.cleanup();
}

/** A container that runs one of the fixtures against its own nested channel, as its root. */
export interface NestedContainer {
  id: string;
  /** Its contid (its init tagged through the host channel). */
  contid: string;
  /** The fixture's JSON lines so far, by step. */
  steps(): Map<string, { step: string; ok: boolean; code?: string; error?: string; result?: unknown }>;
}

/**
 * Starts `name` running `fixture ARGS` (test/security/fixtures) once its nested channel appears
 * at /run/contid, with the host's /usr (libraries), its node binary and the repository mounted
 * read-only so the fixture runs the real client code; tags its init through the host channel
 * and opens its nested channel.
 */
export async function startNestedContainer(engine: DockerEngine, hostSocket: string, name: string, fixture: string, args: string[], extra: string[] = []): Promise<NestedContainer> {
  const channelDir = `${engine.execRoot}/nested-${name}`;
  const script = ['while [ ! -S /run/contid/contid.sock ]; do sleep 0.1; done', `/contid-node ${join(FIXTURES, fixture)} ${args.join(' ')}`, 'sleep 60'].join('; ');
  const run = engine.docker([
    'run', '-d', '--name', name, '--runtime', RUNTIME, '--network', 'none',
    '-v', '/usr:/usr:ro', '-v', `${process.execPath}:/contid-node:ro`, '-v', `${REPO_ROOT}:${REPO_ROOT}:ro`, '-v', `${channelDir}:/run/contid`,
    ...extra, engine.image, 'sh', '-c', script,
  ]);
  if (run.status !== 0 || run.stderr !== '') throw new Error(`docker run ${name}: ${run.stderr}`);
  const id = run.stdout.trim();
  const initPid = Number(engine.docker(['inspect', '-f', '{{.State.Pid}}', id]).stdout.trim());
  const contid = String((await callService(hostSocket, { op: 'create', orchestrator: 'docker', name, runtimeId: id, target: { pid: initPid } })).contid);
  await callService(hostSocket, { op: 'channel', contid, path: channelDir });
  const steps = (): ReturnType<NestedContainer['steps']> =>
    new Map(
      engine
        .docker(['logs', id])
        .stdout.split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { step: string; ok: boolean })
        .map((s) => [s.step, s]),
    );
  return { id, contid, steps };
}
