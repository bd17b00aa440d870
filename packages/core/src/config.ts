import { WritePathChoice } from './write-paths';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { ContidError } from './errors';
import { DEFAULT_TRUST_DIR } from './trust-store';

/** Where the registry and the node's keys live unless CONTID_STATE_DIR says otherwise. */
export const DEFAULT_STATE_DIR = '/var/lib/contid';

export type FailPolicy = 'open' | 'closed';

/** Settings shared by every entry point; each comes from an option or a CONTID_* variable. */
export interface ContidConfig {
  stateDir: string;
  writePath: WritePathChoice;
  failPolicy: FailPolicy;
  /** uid written to loginuid when the caller's auid is unset. */
  loginUid?: number;
  procRoot: string;
  /** This node's name in signed records; must equal auditd's node= (name_format) where logs are collected. */
  nodeName: string;
  /** Public keys readers trust (this node's own are published there). */
  trustDir: string;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined || value === '') return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new ContidError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/**
 * The default state directory pairs with /etc/contid/trusted-keys; any other state directory
 * (a second installation, a test) keeps its trusted keys beside it, so it never touches /etc.
 */
export function defaultTrustDir(stateDir: string): string {
  return resolve(stateDir) === resolve(DEFAULT_STATE_DIR) ? DEFAULT_TRUST_DIR : join(stateDir, 'trusted-keys');
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ContidConfig> = {}): ContidConfig {
  const loginUid = env.CONTID_LOGIN_UID;
  if (loginUid !== undefined && !/^\d+$/.test(loginUid)) throw new ContidError(`CONTID_LOGIN_UID must be a uid, got "${loginUid}"`);
  const stateDir = overrides.stateDir ?? (env.CONTID_STATE_DIR || DEFAULT_STATE_DIR);
  return {
    stateDir,
    writePath: oneOf('CONTID_WRITE_PATH', env.CONTID_WRITE_PATH, ['auto', 'session', 'procfs'], 'auto'),
    failPolicy: oneOf('CONTID_FAIL_POLICY', env.CONTID_FAIL_POLICY, ['open', 'closed'], 'closed'),
    loginUid: loginUid === undefined ? undefined : Number(loginUid),
    procRoot: env.CONTID_PROC_ROOT || '/proc',
    nodeName: env.CONTID_NODE_NAME || hostname(),
    trustDir: env.CONTID_TRUST_DIR || defaultTrustDir(stateDir),
    // Options left undefined (an absent CLI flag) must not erase the environment's value.
    ...(Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as Partial<ContidConfig>),
  };
}
