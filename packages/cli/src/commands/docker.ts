import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { ContidError, FailPolicy, Tagger } from '@contid/core';
import {
  DAEMON_JSON,
  DockerAgent,
  SHIM_INSTALL_PATH,
  Spool,
  SpoolConsumer,
  RuntimeUser,
  addRuntime,
  backfillDocker,
  containersUsingRuntime,
  dockerClient,
  dockerExecDescriber,
  dockerIdentifier,
  installDaemonJson,
  installShim,
  removeShim,
  restoreDaemonJson,
  spoolDirFromEnv,
} from '@contid/docker';
import type { Installer } from '@contid/oci';
import { dockerFrontCommand } from './docker-front';

interface DockerArgs {
  host?: string;
  spool?: string;
  'wait-ms': number;
}

const log = (line: string): void => void process.stderr.write(`contid docker: ${line}\n`);

/** The Docker side runs fail-open unless told otherwise: a container must not fail to start because contid is down. */
function openTagger(): Tagger {
  const policy: FailPolicy | undefined = process.env.CONTID_FAIL_POLICY ? undefined : 'open';
  return Tagger.open({ failPolicy: policy });
}

function socketOf(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  if (!host.startsWith('unix://')) throw new ContidError(`--host must be unix:///path/to/docker.sock, got "${host}"`);
  return host.slice('unix://'.length);
}

const options = {
  host: { type: 'string', describe: 'Docker socket (unix://PATH; default $DOCKER_HOST or /var/run/docker.sock)' },
  spool: { type: 'string', describe: 'the shim’s spool (default $CONTID_SPOOL_DIR or $CONTID_STATE_DIR/spool)' },
} as const;

const sync: CommandModule<object, DockerArgs> = {
  command: 'sync',
  describe: 'one pass: drain the runtime shim’s spool, register running containers (untagged when they have no session), end stopped ones',
  builder: (y) => y.options(options).option('wait-ms', { type: 'number', default: 10_000, describe: 'how long to wait for runc still writing a pid file' }),
  handler: async (argv) => {
    const docker = dockerClient(socketOf(argv.host));
    const tagger = openTagger();
    try {
      const spool = new Spool(argv.spool ?? spoolDirFromEnv());
      spool.prepare();
      const consumer = new SpoolConsumer({
        tagger,
        spool,
        identifiers: [dockerIdentifier(docker)],
        describeExec: dockerExecDescriber(docker),
        pidFileWaitMs: argv['wait-ms'],
        log,
      });
      const outcomes = await consumer.drain();
      const b = await backfillDocker(docker, tagger).catch((e: Error) => {
        throw new ContidError(`cannot reach docker: ${e.message}`);
      });
      const count = (k: string) => outcomes.filter((o) => o.kind === k).length;
      process.stdout.write(
        `spool: ${count('tagged')} tagged, ${count('ended')} ended, ${count('already')} already done, ${count('deferred')} still pending, ${count('quarantined')} quarantined; ` +
          `docker: ${b.known.length} tagged, ${b.untagged.length} recorded untagged, ${b.ended.length} ended\n`,
      );
    } finally {
      tagger.close();
    }
  },
};

const agent: CommandModule<object, Omit<DockerArgs, 'wait-ms'>> = {
  command: 'agent',
  describe: 'long-running: drain the spool as the shim writes it, follow Docker events (exec, die, destroy), backfill at start',
  builder: (y) => y.options(options),
  handler: async (argv) => {
    const tagger = openTagger();
    const a = new DockerAgent({ docker: dockerClient(socketOf(argv.host)), tagger, spool: new Spool(argv.spool ?? spoolDirFromEnv()), log });
    const stopped = new Promise<void>((done) => {
      const stop = (signal: NodeJS.Signals) => {
        log(`${signal}: stopping`);
        done();
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    try {
      await a.start().catch((e: Error) => {
        throw new ContidError(`docker agent cannot start: ${e.message}`);
      });
      log(`watching ${argv.spool ?? spoolDirFromEnv()}`);
      await stopped;
    } finally {
      await a.stop();
      tagger.close();
    }
  },
};

/** The same agent as `contid agent docker`, beside `contid agent kubernetes`. */
export const dockerAgent: CommandModule<object, Omit<DockerArgs, 'wait-ms'>> = { ...agent, command: 'docker' };

export const dockerCommand: CommandModule<object, object> = {
  command: 'docker <command>',
  describe: 'Docker: spool agent and one-shot sync for the contid-runc runtime shim',
  builder: (y) =>
    y
      .command(sync as unknown as CommandModule<object, object>)
      .command(agent as unknown as CommandModule<object, object>)
      .command(dockerFrontCommand as unknown as CommandModule<object, object>)
      .demandCommand(1),
  handler: () => undefined,
};

const SHIM_SOURCE = resolve(__dirname, '../../../../integrations/docker/contid-runc');

interface InstallOptions {
  file: string;
  makeDefault: boolean;
  shim: string;
  force: boolean;
  host?: string;
}

function installArgs(args: string[], verb: 'install' | 'uninstall'): InstallOptions {
  const o: InstallOptions = { file: DAEMON_JSON, shim: SHIM_INSTALL_PATH, makeDefault: false, force: false };
  const usage = verb === 'install' ? '--default-runtime, --daemon-json FILE, --shim-path FILE' : '--force, --host unix://PATH, --daemon-json FILE, --shim-path FILE';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new ContidError(`contid ${verb} docker: ${a} needs a value`, 2);
      return v;
    };
    if (a === '--default-runtime' && verb === 'install') o.makeDefault = true;
    else if (a === '--force' && verb === 'uninstall') o.force = true;
    else if (a === '--host' && verb === 'uninstall') o.host = value();
    else if (a === '--daemon-json') o.file = value();
    else if (a === '--shim-path') o.shim = value();
    else throw new ContidError(`contid ${verb} docker: unknown argument "${a}" (use ${usage})`, 2);
  }
  return o;
}

const NEXT_RESTART = 'next: restart dockerd (systemctl restart docker)';

/** `contid install docker [--default-runtime] [--daemon-json FILE] [--shim-path FILE]`. */
export const dockerInstaller: Installer = {
  describe: 'the contid-runc runtime shim and its daemon.json entry ([--default-runtime] [--daemon-json FILE] [--shim-path FILE]; uninstall: [--force] [--host unix://PATH])',
  install(args) {
    const { file, makeDefault, shim } = installArgs(args, 'install');
    if (!existsSync(SHIM_SOURCE)) throw new ContidError(`shim not found at ${SHIM_SOURCE}`);
    addRuntime(existsSync(file) ? readFileSync(file, 'utf8') : '', shim, { makeDefault, file }); // refuse a bad file before touching anything
    installShim(SHIM_SOURCE, shim);
    const { change, backup } = installDaemonJson(file, shim, makeDefault);
    return [
      `installed ${shim}`,
      change.changed ? `${file}: runtime "contid"${makeDefault ? ' (default)' : ''} added${backup ? `; the original is kept in ${backup}` : ''}` : `${file} already up to date`,
      `${NEXT_RESTART}, run \`contid docker agent\` (or \`contid docker sync\` after starts), then docker run --runtime contid …`,
    ].join('\n');
  },
  /**
   * Containers on the contid runtime need its shim for every later runc call (exec, kill,
   * delete) and its daemon.json entry to start again: while any exist, uninstall refuses and
   * names them; with --force it takes the runtime out of daemon.json but keeps the shim.
   */
  async uninstall(args) {
    const { file, shim, force, host } = installArgs(args, 'uninstall');
    let users: RuntimeUser[] | null;
    try {
      users = await containersUsingRuntime(dockerClient(socketOf(host)));
    } catch (e) {
      if (!force) throw new ContidError(`cannot ask dockerd which containers use the contid runtime (${(e as Error).message}); start it, name it with --host, or pass --force`);
      users = null;
    }
    if (users && users.length > 0 && !force) {
      const list = users.map((u) => `${u.name} (${u.id.slice(0, 12)}, ${u.running ? 'running' : 'stopped'})`).join(', ');
      throw new ContidError(`${users.length} container(s) use the contid runtime: ${list}; remove them first (docker rm -f), or pass --force to keep the shim for them`);
    }
    const lines: string[] = [];
    const restored = restoreDaemonJson(file);
    if (restored.action === 'absent') lines.push(`${file} does not exist`);
    else if (restored.action === 'unchanged') lines.push(`${file} has no contid runtime`);
    else if (restored.action === 'restored') lines.push(`${file}: restored as it was before contid (from ${restored.from})`);
    else if (restored.action === 'removed') lines.push(`${file}: removed (contid had created it)`);
    else lines.push(`${file}: runtime "contid" removed; the file was edited since install, so other changes are kept${restored.backup ? ` (the original stays in ${restored.backup})` : ''}`);
    if (users === null || users.length > 0) {
      const why = users === null ? 'dockerd could not be asked which containers still use it' : `${users.length} container(s) still use it: ${users.map((u) => u.name).join(', ')}`;
      lines.push(`kept ${shim}: ${why}; run \`contid uninstall docker\` again once they are gone`);
      lines.push(`${NEXT_RESTART}; until then new containers can still choose --runtime contid, and after it those containers cannot be started again`);
    } else {
      lines.push(removeShim(shim) ? `removed ${shim}` : `${shim} is not installed`);
      lines.push(NEXT_RESTART);
    }
    return lines.join('\n');
  },
};
