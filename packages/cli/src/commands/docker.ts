import type { CommandModule } from 'yargs';
import { resolve } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { ContidError, FailPolicy, Tagger, registerHealthCheck } from '@contid/core';
import {
  DAEMON_JSON,
  DockerAgent,
  SHIM_INSTALL_PATH,
  Spool,
  SpoolConsumer,
  addRuntime,
  backfillDocker,
  dockerHealth,
  dockerClient,
  dockerExecDescriber,
  dockerIdentifier,
  installShim,
  removeRuntime,
  removeShim,
  spoolDirFromEnv,
  writeDaemonJson,
} from '@contid/docker';
import type { Installer } from './installers';

// `contid doctor` warns about a spool nobody drains and entries that could not be processed.
registerHealthCheck((config) => dockerHealth(config));

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
        `spool: ${count('tagged')} tagged, ${count('already')} already done, ${count('deferred')} still pending, ${count('quarantined')} quarantined; ` +
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
      .demandCommand(1),
  handler: () => undefined,
};

const SHIM_SOURCE = resolve(__dirname, '../../../../integrations/docker/contid-runc');

function daemonJsonArgs(args: string[]): { file: string; makeDefault: boolean; shim: string } {
  let file = DAEMON_JSON;
  let shim = SHIM_INSTALL_PATH;
  let makeDefault = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--default-runtime') makeDefault = true;
    else if (args[i] === '--daemon-json' && args[i + 1]) file = args[++i];
    else if (args[i] === '--shim-path' && args[i + 1]) shim = args[++i];
    else throw new ContidError(`contid install docker: unknown argument "${args[i]}" (use --default-runtime, --daemon-json FILE, --shim-path FILE)`, 2);
  }
  return { file, makeDefault, shim };
}

/** `contid install docker [--default-runtime] [--daemon-json FILE]`. */
export const dockerInstaller: Installer = {
  describe: 'the contid-runc runtime shim and its daemon.json entry ([--default-runtime] [--daemon-json FILE] [--shim-path FILE])',
  install(args) {
    const { file, makeDefault, shim } = daemonJsonArgs(args);
    if (!existsSync(SHIM_SOURCE)) throw new ContidError(`shim not found at ${SHIM_SOURCE}`);
    const change = addRuntime(existsSync(file) ? readFileSync(file, 'utf8') : '', shim, { makeDefault, file });
    installShim(SHIM_SOURCE, shim);
    const backup = writeDaemonJson(file, change);
    return [
      `installed ${shim}`,
      change.changed ? `${file}: runtime "contid"${makeDefault ? ' (default)' : ''} added${backup ? `, backup ${backup}` : ''}` : `${file} already up to date`,
      'next: restart dockerd (systemctl restart docker), run `contid docker agent` (or `contid docker sync` after starts), then docker run --runtime contid …',
    ].join('\n');
  },
  uninstall(args) {
    const { file, shim } = daemonJsonArgs(args.filter((a) => a !== '--default-runtime'));
    const lines: string[] = [];
    if (existsSync(file)) {
      const change = removeRuntime(readFileSync(file, 'utf8'), { file });
      const backup = writeDaemonJson(file, change);
      lines.push(change.changed ? `${file}: runtime "contid" removed${backup ? `, backup ${backup}` : ''}` : `${file} has no contid runtime`);
    }
    lines.push(removeShim(shim) ? `removed ${shim}` : `${shim} is not installed`);
    lines.push('next: restart dockerd (systemctl restart docker); containers already running keep their runtime until they stop');
    return lines.join('\n');
  },
};
