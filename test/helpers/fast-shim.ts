import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cli';

/** The compiled shim beside the sh one, built from integrations/docker/contid-runc.c when missing or older. */
export const FAST_SHIM = join(REPO_ROOT, 'integrations/docker/contid-runc-fast');

export function buildFastShim(out = FAST_SHIM): string {
  const r = spawnSync(join(REPO_ROOT, 'scripts/build-shim.sh'), [out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scripts/build-shim.sh: ${r.stderr}`);
  return out;
}
