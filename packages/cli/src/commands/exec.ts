import type { CommandModule } from 'yargs';
import {
  AUDIT_UNSET,
  ContainerRecord,
  ContidError,
  Tagger,
  configFromEnv,
  formatContainerId,
  parseContainerId,
  replaceProcess,
  sameProcess,
  scanProcesses,
} from '@contid/core';
import { ServiceUnavailableError, serviceSocket, tagSelfViaService } from '@contid/service';
import { Invocation, bindInvocation, currentInvocation, renewOwnSession } from '@contid/systemd';
import { warn } from '../output';
import { reconcile } from './reconcile';
import { VERBATIM_ARGS } from './verbatim-args';

interface ExecArgs {
  name?: string;
  orchestrator: string;
  'runtime-id'?: string;
  parent?: string;
  setns?: string;
  'fail-policy'?: 'open' | 'closed';
  systemd?: boolean;
  'renew-only'?: boolean;
  unit?: string;
  '--'?: string[];
  command?: string[];
}

/**
 * `contid exec -- CMD`: this process renews its own audit session, binds it to a new (or,
 * with --setns, an existing) container ID, writes the audit record and registry row, then
 * becomes CMD through execve, so CMD and its children carry the session.
 */
export const execCommand: CommandModule<object, ExecArgs> = {
  command: 'exec [command..]',
  describe: 'run a command as a new container (or inside one with --setns), tagged on the real kernel',
  builder: (y) =>
    y
      .parserConfiguration({ ...VERBATIM_ARGS, 'populate--': true, 'unknown-options-as-args': false })
      .option('name', { type: 'string', describe: 'container name (default: the command)' })
      .option('orchestrator', { type: 'string', default: 'contid', describe: 'who built it (docker, lxc, systemd …)' })
      .option('runtime-id', { type: 'string', describe: "the orchestrator's own id for it" })
      .option('parent', { type: 'string', describe: 'parent contid (default: the container this runs in, if any)' })
      .option('setns', { type: 'string', describe: 'enter this existing container instead of creating one' })
      .option('fail-policy', { choices: ['open', 'closed'] as const, describe: 'when audit is unavailable: run anyway (open) or refuse (closed)' })
      .option('systemd', { type: 'boolean', describe: "as a unit's ExecStart=: bind to this invocation's contid ($INVOCATION_ID; see docs/systemd.md)" })
      .option('unit', { type: 'string', describe: 'with --systemd: the unit name (drop-ins pass %n)' })
      .option('renew-only', { type: 'boolean', describe: 'with --systemd: only renew the own session; ExecStartPost=+contid systemd bind binds it (User=, sandboxed units)' })
      .example('$0 exec --name web -- nginx -g "daemon off;"', 'tag nginx and all it starts')
      .example('$0 exec --setns web -- sh', 'enter web as op=setns'),
  handler: async (argv) => {
    const command = [...(argv.command ?? []), ...(argv['--'] ?? [])].map(String);
    if (command.length === 0) throw new ContidError('exec needs a command: contid exec [options] -- CMD [ARGS...]', 2);
    const invocation = argv.systemd ? systemdInvocation(argv) : null;
    if (argv['renew-only']) {
      if (!invocation) throw new ContidError('--renew-only goes with --systemd', 2);
      renewOwnSession(configFromEnv());
      return replaceProcess(command);
    }
    if (await viaService(argv, command)) return replaceProcess(command);
    const tagger = Tagger.open({ failPolicy: argv['fail-policy'] });
    let auditError: string | null;
    if (invocation) {
      ({ auditError } = bindInvocation(tagger, invocation, { pid: 'self' }, { command }));
    } else if (argv.setns !== undefined) {
      reconcile(tagger);
      const target = tagger.containers.find(argv.setns);
      if (!target) throw new ContidError(`unknown container "${argv.setns}" for --setns`);
      refuseEscapedInit(tagger, target);
      ({ auditError } = tagger.setns({ contid: target.contid, target: { pid: 'self' }, detail: { command } }));
    } else {
      ({ auditError } = tagger.create({
        orchestrator: argv.orchestrator,
        name: argv.name ?? command[0].split('/').pop()!,
        runtimeId: argv['runtime-id'] ?? null,
        parent: argv.parent === undefined ? 'auto' : parseContainerId(argv.parent),
        target: { pid: 'self' },
        detail: { command },
      }));
    }
    if (auditError) warn(`FAIL-OPEN: running untracked by the audit trail: ${auditError}`);
    tagger.close();
    replaceProcess(command);
  },
};

/**
 * A container whose recorded init still runs outside every session bound to it has left its
 * identity (it renewed its own session): entering it would bind a session to a container
 * whose main process is no longer attributed to it.
 */
function refuseEscapedInit(tagger: Tagger, c: ContainerRecord): void {
  if (c.state !== 'running' || c.session === null) return;
  const table = scanProcesses(tagger.procRoot);
  if (!sameProcess(c.initPid, c.initStart, table)) return;
  const session = table.session.get(c.initPid!)!;
  if (tagger.boundSessions(c).includes(session)) return;
  const where = session === AUDIT_UNSET ? 'no audit session' : `session ${session}`;
  throw new ContidError(`container ${formatContainerId(c.contid)} (${c.name}): its init (pid ${c.initPid}) runs in ${where}, not in its bound session ${c.session}; it left its identity, refusing to enter it`);
}

/** --systemd: the unit invocation names the container (the service path then creates one per invocation). */
function systemdInvocation(argv: ExecArgs): Invocation {
  if (argv.setns !== undefined) throw new ContidError('--systemd and --setns do not go together: --systemd joins the invocation\'s container itself', 2);
  const invocation = currentInvocation(process.env, argv.unit);
  argv.orchestrator = 'systemd';
  argv.name = invocation.unit;
  argv['runtime-id'] = invocation.invocationId;
  return invocation;
}

/**
 * When `contid serve` runs (its socket exists), tag through it: this process renews its own
 * session and the service binds it. Returns false when no service answers (direct mode).
 */
async function viaService(argv: ExecArgs, command: string[]): Promise<boolean> {
  const socket = serviceSocket();
  if (socket === null) return false;
  try {
    const r = await tagSelfViaService(socket, {
      orchestrator: argv.orchestrator,
      name: argv.name ?? command[0].split('/').pop()!,
      runtimeId: argv['runtime-id'] ?? null,
      parent: argv.parent === undefined ? undefined : parseContainerId(argv.parent),
      setns: argv.setns,
      detail: { command },
      failPolicy: argv['fail-policy'] ?? configFromEnv().failPolicy,
    });
    if (r.contid === null) warn(`FAIL-OPEN: running untracked by the audit trail: ${r.failure}`);
    else if (r.auditError) warn(`FAIL-OPEN: running untracked by the audit trail: ${r.auditError}`);
    return true;
  } catch (e) {
    if (e instanceof ServiceUnavailableError) return false;
    throw e;
  }
}
