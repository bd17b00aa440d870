import { lstatSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CommandModule } from 'yargs';
import { ContidError, escapeText, trustedDirectory } from '@contid/core';
import { DEFAULT_LIMITS, DockerFront, FRONT_UPSTREAM, REQUESTERS_DIR, RequesterStore, UNATTRIBUTED, Unattributed, failOpen } from '@contid/docker';

interface FrontArgs {
  listen: string;
  upstream: string;
  requesters: string;
  restore: boolean;
  group: string;
  'allow-unattributed'?: string;
  'max-connections': number;
  'max-user-connections': number;
  'request-timeout': number;
}

/** A group's gid from /etc/group (a number is taken as is); undefined when there is no such group. */
function groupId(group: string): number | undefined {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith(`${group}:`));
    return line ? Number(line.split(':')[2]) : undefined;
  } catch {
    return undefined;
  }
}

/** `--allow-unattributed build,swarm`: each a kind the front knows, or one line and exit 1. */
function unattributedKinds(text: string | undefined): Set<Unattributed> {
  const kinds = new Set<Unattributed>();
  for (const k of (text ?? '').split(',').map((t) => t.trim()).filter(Boolean)) {
    if (!(UNATTRIBUTED as readonly string[]).includes(k)) throw new ContidError(`--allow-unattributed: unknown kind ${JSON.stringify(escapeText(k))} (known: ${UNATTRIBUTED.join(', ')})`);
    kinds.add(k as Unattributed);
  }
  return kinds;
}

/**
 * The front binds beside --listen, sets that socket's owner and mode by path, and renames it
 * (or, failing open, a link to dockerd's socket) over --listen: as for every socket contid
 * makes (core's clearSocketPath), the directory must be one nobody else can redirect, and what
 * is at --listen may be replaced only when it is a socket or the link a fail-open left.
 */
function checkListenPath(listen: string): void {
  trustedDirectory(dirname(listen));
  let st;
  try {
    st = lstatSync(listen);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ContidError(`cannot use ${listen}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!st.isSocket() && !st.isSymbolicLink()) throw new ContidError(`${listen} exists and is not a socket or a link to one; refusing to replace it`);
}

/** A limit option: a whole number from 1, or one line and exit 1. */
function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new ContidError(`--${name}: expected a whole number from 1, got ${JSON.stringify(escapeText(String(value)))}`);
  return value;
}

const log = (line: string): void => void process.stderr.write(`contid docker front: ${line}\n`);

/** `contid docker front`: the API socket clients use, in front of dockerd's real one. */
export const dockerFrontCommand: CommandModule<object, FrontArgs> = {
  command: 'front',
  describe: 'front the Docker API socket: relay every call to dockerd, note who asked for each container and exec (for the runtime shim)',
  builder: (y) =>
    y
      .option('listen', { type: 'string', default: '/var/run/docker.sock', describe: 'the socket clients use' })
      .option('upstream', { type: 'string', default: FRONT_UPSTREAM, describe: 'where dockerd listens (its -H unix://…)' })
      .option('requesters', { type: 'string', default: REQUESTERS_DIR, describe: 'root-only directory the runtime shim reads requesters from' })
      .option('group', { type: 'string', default: 'docker', describe: "group of the front's socket, given back to dockerd's on fail-open (dockerd's own socket is made root-only while the front runs)" })
      .option('allow-unattributed', {
        type: 'string',
        describe: `comma-separated: ${UNATTRIBUTED.join(', ')} — relay these for users other than root although what then runs has no requester noted (build, swarm, plugins: dockerd runs them itself, with auid 0; runtime: a container under a runtime other than contid's while dockerd's default is contid's) or can leave its audit session (audit-control: privileged, or --cap-add AUDIT_CONTROL or ALL); refused by default`,
      })
      .option('max-connections', { type: 'number', default: DEFAULT_LIMITS.connections, describe: 'connections open at once from callers other than host root; more are answered 503 and closed' })
      .option('max-user-connections', { type: 'number', default: DEFAULT_LIMITS.userConnections, describe: 'connections open at once from one uid other than host root' })
      .option('request-timeout', { type: 'number', default: DEFAULT_LIMITS.requestTimeoutMs / 1000, describe: 'seconds a request head or a judged body (create, start, exec …) may stay unfinished before the connection is closed' })
      .option('restore', { type: 'boolean', default: false, describe: 'only point --listen at --upstream (fail open; for ExecStopPost) and exit' }),
  handler: async (argv) => {
    checkListenPath(argv.listen);
    if (argv.restore) {
      failOpen(argv.listen, argv.upstream, groupId(argv.group));
      process.stdout.write(`${argv.listen} -> ${argv.upstream}\n`);
      return;
    }
    const allowUnattributed = unattributedKinds(argv['allow-unattributed']);
    const limits = {
      connections: positive('max-connections', argv['max-connections']),
      userConnections: positive('max-user-connections', argv['max-user-connections']),
      requestTimeoutMs: positive('request-timeout', argv['request-timeout']) * 1000,
    };
    const front = new DockerFront({ listen: argv.listen, upstream: argv.upstream, requesters: new RequesterStore(argv.requesters), gid: groupId(argv.group), allowUnattributed, limits, log });
    try {
      await front.start();
    } catch (e) {
      throw new ContidError(`cannot front ${argv.listen}: ${(e as Error).message}`);
    }
    log(`${argv.listen} -> ${argv.upstream}; requesters in ${argv.requesters}`);
    const signal = await new Promise<NodeJS.Signals>((done) => {
      process.once('SIGTERM', done);
      process.once('SIGINT', done);
    });
    log(`${signal}: ${argv.listen} now leads straight to ${argv.upstream}`);
    await front.stop();
  },
};
