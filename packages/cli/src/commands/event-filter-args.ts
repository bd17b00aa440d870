import { readFileSync } from 'node:fs';
import { ContidError } from '@contid/core';
import { SEARCH_FORMATS, type EventFilter, type SearchFormat } from '@contid/audit';

/** What `contid search` and `contid tail` share: filters, output format and trust settings. */
export interface EventFilterArgs {
  container?: string;
  pod?: string;
  orchestrator?: string;
  'include-nested': boolean;
  type?: string[];
  key?: string;
  pid?: number;
  uid?: number;
  auid?: number;
  'requested-by'?: string;
  label?: string[];
  project?: string;
  success?: string;
  node?: string[];
  format?: SearchFormat;
  'trust-dir'?: string;
  'trust-unsigned-by-exe'?: string[];
  'event-timeout': number;
}

export const EVENT_FILTER_OPTIONS = {
  container: { alias: 'c', type: 'string', describe: 'container name, contid, or runtime-id prefix' },
  pod: { type: 'string', describe: 'a Kubernetes pod, NAMESPACE/NAME: its sandbox and every container in it' },
  orchestrator: { type: 'string', describe: 'docker, lxc, systemd, kubernetes, contid, …' },
  'include-nested': { type: 'boolean', default: false, describe: 'also events of containers nested in the matched ones' },
  type: { alias: 'm', type: 'string', array: true, describe: 'record type name(s) or number(s)' },
  key: { alias: 'k', type: 'string', describe: 'audit rule key' },
  pid: { type: 'number' },
  uid: { type: 'number' },
  auid: { type: 'number' },
  'requested-by': { type: 'string', describe: 'user name or uid: what the containers and execs this login user asked for did (their auid)' },
  label: { type: 'string', array: true, describe: 'KEY=VALUE: only containers with this label (repeatable)' },
  project: { type: 'string', describe: 'a compose project: --label com.docker.compose.project=NAME' },
  success: { type: 'string', describe: 'yes or no' },
  format: { choices: SEARCH_FORMATS, describe: 'raw (default), interpret, json (one event a line), ecs (Elastic Common Schema)' },
  node: { alias: 'n', type: 'string', array: true, describe: "events of these nodes only (auditd's node= name, as ausearch -n)" },
  'trust-dir': { type: 'string', describe: 'public keys that verify bindings (default $CONTID_TRUST_DIR or /etc/contid/trusted-keys; contid keys import adds them)' },
  'trust-unsigned-by-exe': {
    type: 'string',
    array: true,
    describe: 'INSECURE: also accept UNSIGNED bindings sent by root from these executables (the old rule; any container with CAP_AUDIT_WRITE can forge such a record)',
  },
  'event-timeout': { type: 'number', default: 2000, describe: 'ms of audit time after which an event missing its last record is complete' },
} as const;

function numberArg(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw new ContidError(`--${name} must be a non-negative integer`, 2);
  return v;
}

/** A login user by name (from /etc/passwd, as ausearch resolves names) or by number. */
export function uidOf(user: string, passwd = '/etc/passwd'): number {
  if (/^\d+$/.test(user)) return Number(user);
  let text = '';
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    // No passwd file: only numbers then.
  }
  const line = text.split('\n').find((l) => l.split(':')[0] === user);
  const uid = line?.split(':')[2];
  if (uid === undefined || !/^\d+$/.test(uid)) throw new ContidError(`--requested-by: no user called "${user}" in ${passwd}`, 2);
  return Number(uid);
}

/** --label KEY=VALUE… and --project NAME (compose) as one label set; undefined when neither is given. */
export function labelsOf(argv: { label?: string[]; project?: string }): Record<string, string> | undefined {
  const pairs = (argv.label ?? []).map(String).map((l) => {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new ContidError(`--label takes KEY=VALUE, got "${l}"`, 2);
    return [l.slice(0, eq), l.slice(eq + 1)] as const;
  });
  if (argv.project !== undefined) pairs.push(['com.docker.compose.project', argv.project]);
  return pairs.length ? Object.fromEntries(pairs) : undefined;
}

/** The filter the options describe (times are the caller's: only search has --start/--end). */
export function eventFilterOf(argv: EventFilterArgs): EventFilter {
  if (argv.success !== undefined && argv.success !== 'yes' && argv.success !== 'no') {
    throw new ContidError(`--success must be yes or no, got "${argv.success}"`, 2);
  }
  if (argv.pod !== undefined && argv.container !== undefined) throw new ContidError('--pod and --container select containers both: give one', 2);
  if (argv.pod !== undefined && !/^[^/]+\/[^/]+$/.test(argv.pod)) throw new ContidError(`--pod takes NAMESPACE/NAME, got "${argv.pod}"`, 2);
  // A pod is its sandbox container; the pod's containers are nested in it.
  return {
    container: argv.pod ?? argv.container,
    orchestrator: argv.pod !== undefined ? 'kubernetes' : argv.orchestrator,
    includeNested: argv.pod !== undefined || argv['include-nested'],
    types: argv.type?.flatMap((t) => String(t).split(',')),
    key: argv.key,
    pid: numberArg('pid', argv.pid),
    uid: numberArg('uid', argv.uid),
    auid: numberArg('auid', argv.auid),
    requestedBy: argv['requested-by'] === undefined ? undefined : uidOf(argv['requested-by']),
    labels: labelsOf(argv),
    success: argv.success === undefined ? undefined : argv.success === 'yes',
    nodes: argv.node?.flatMap((n) => String(n).split(',')).filter((n) => n !== ''),
  };
}
