import { DEFAULT_STATE_DIR } from './registry';
import { WritePathChoice } from './write-paths';
import { ContidError } from './errors';

export type FailPolicy = 'open' | 'closed';

/** Settings shared by every entry point; each comes from an option or a CONTID_* variable. */
export interface ContidConfig {
  stateDir: string;
  writePath: WritePathChoice;
  failPolicy: FailPolicy;
  /** uid written to loginuid when the caller's auid is unset. */
  loginUid?: number;
  procRoot: string;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new ContidError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ContidConfig> = {}): ContidConfig {
  const loginUid = env.CONTID_LOGIN_UID;
  if (loginUid !== undefined && !/^\d+$/.test(loginUid)) throw new ContidError(`CONTID_LOGIN_UID must be a uid, got "${loginUid}"`);
  return {
    stateDir: env.CONTID_STATE_DIR || DEFAULT_STATE_DIR,
    writePath: oneOf('CONTID_WRITE_PATH', env.CONTID_WRITE_PATH, ['auto', 'session', 'procfs'], 'auto'),
    failPolicy: oneOf('CONTID_FAIL_POLICY', env.CONTID_FAIL_POLICY, ['open', 'closed'], 'closed'),
    loginUid: loginUid === undefined ? undefined : Number(loginUid),
    procRoot: env.CONTID_PROC_ROOT || '/proc',
    // Options left undefined (an absent CLI flag) must not erase the environment's value.
    ...(Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<ContidConfig>),
  };
}
