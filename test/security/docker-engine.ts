import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DockerEngine } from '../docker/engine';
import { FIXTURES } from './harness';

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
export function removeNestedChannels(engine: DockerEngine): void {
  for (const entry of readdirSync(engine.execRoot)) if (entry.startsWith('nested-')) rmSync(join(engine.execRoot, entry), { recursive: true, force: true });
}
