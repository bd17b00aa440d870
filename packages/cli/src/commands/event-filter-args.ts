import { uidOfLogin } from '@contid/core/dist/passwd';
import { ContidError } from '@contid/core/dist/errors';
import { escapeText } from '@contid/core/dist/printable';
import { SEARCH_FORMATS, type SearchFormat } from '@contid/audit/dist/search-formats';
import { errnoNumber } from '@contid/audit/dist/libaudit';
import type { EventFilter } from '@contid/audit/dist/filter';

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
  'trust-dir'?: string;
  'trust-unsigned-by-exe'?: string[];
  'log-node'?: string;
  ppid?: number;
  euid?: number;
  gid?: number;
  session?: number;
  'any-uid'?: number;
  syscall?: string;
  exe?: string;
  filename?: string;
  host?: string;
  exit?: string;
  format?: SearchFormat;
  interpret?: boolean;
  raw?: boolean;
  json: boolean;
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
  node: { alias: 'n', type: 'string', array: true, describe: "events of these nodes only (auditd's node= name, as ausearch -n)" },
  'log-node': { type: 'string', describe: "the node that wrote the records without a node= prefix (default: this host's node name, $CONTID_NODE_NAME or the host name); a binding of another node in them is rejected" },
  'trust-dir': { type: 'string', describe: 'public keys that verify bindings (default $CONTID_TRUST_DIR or /etc/contid/trusted-keys; contid keys import adds them)' },
  'trust-unsigned-by-exe': {
    type: 'string',
    array: true,
    describe: 'INSECURE: also accept UNSIGNED bindings sent by root from these executables (the old rule; any container with CAP_AUDIT_WRITE can forge such a record)',
  },
  success: { type: 'string', describe: 'yes or no (ausearch -sv)' },
  ppid: { type: 'number', describe: 'parent pid (ausearch -pp)' },
  euid: { type: 'number', describe: 'effective uid (ausearch -ue)' },
  gid: { type: 'number', describe: 'gid (ausearch -gi)' },
  session: { type: 'number', describe: 'audit session (ausearch --session)' },
  'any-uid': { type: 'number', describe: 'uid, euid or auid (ausearch -ua)' },
  syscall: { type: 'string', describe: 'syscall name or number (ausearch -sc)' },
  exe: { type: 'string', describe: 'executable, exactly (ausearch -x)' },
  filename: { type: 'string', describe: 'a file name of the event (ausearch -f)' },
  host: { type: 'string', describe: 'hostname= or addr= (ausearch -hn)' },
  exit: { type: 'string', describe: 'syscall exit value or errno name, e.g. -13 or EACCES (ausearch -e)' },
  format: { choices: SEARCH_FORMATS, describe: 'raw (default), interpret (ausearch -i), text (one sentence an event, ausearch --format text), csv (ausearch --format csv), json (one event a line), ecs (Elastic Common Schema)' },
  interpret: { type: 'boolean', describe: 'same as --format interpret (ausearch -i)' },
  raw: { type: 'boolean', describe: 'same as --format raw (ausearch -r)' },
  'event-timeout': { type: 'number', default: 2000, describe: 'ms of audit time after which an event missing its last record is complete' },
} as const;

/** The one output format the options name (--format, --interpret, --raw, --json); raw by default. */
/** ausearch's own stderr line (no "contid:") for an event libauparse's normalizer cannot read (csv). */
export const printNormalizeError = (line: string): void => void process.stderr.write(`${escapeText(line)}\n`);

export function outputFormatOf(argv: EventFilterArgs): SearchFormat {
  const named = [argv.format, argv.interpret ? 'interpret' : undefined, argv.raw ? 'raw' : undefined, argv.json ? 'json' : undefined].filter((f) => f !== undefined);
  if (new Set(named).size > 1) throw new ContidError('choose one output format (--format, -i/--interpret, -r/--raw, --json)', 2);
  return (named[0] ?? 'raw') as SearchFormat;
}

/** ausearch -e: a number, or an errno name meaning its negative value. */
function exitArg(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = String(v);
  if (/^-?\d+$/.test(s)) return Number(s);
  const errno = errnoNumber(s.replace(/^-/, ''));
  if (errno === null) throw new ContidError(`--exit takes a number or an errno name (EACCES), got "${s}"`, 2);
  return -errno;
}

function numberArg(name: string, v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 0) throw new ContidError(`--${name} must be a non-negative integer`, 2);
  return v;
}

/** A login user by name (from /etc/passwd, as ausearch resolves names) or by number. */
export function uidOf(user: string, passwd = '/etc/passwd'): number {
  if (/^\d+$/.test(user)) return Number(user);
  const uid = uidOfLogin(user, passwd);
  if (uid === null) throw new ContidError(`--requested-by: no user called "${user}" in ${passwd}`, 2);
  return uid;
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
    ppid: numberArg('ppid', argv.ppid),
    euid: numberArg('euid', argv.euid),
    gid: numberArg('gid', argv.gid),
    session: numberArg('session', argv.session),
    anyUid: numberArg('any-uid', argv['any-uid']),
    syscall: argv.syscall === undefined ? undefined : String(argv.syscall),
    exe: argv.exe,
    filename: argv.filename,
    host: argv.host,
    exit: exitArg(argv.exit),
  };
}
