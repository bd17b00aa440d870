import type { CommandModule } from 'yargs';
import { ContidError, FailPolicy, Tagger } from '@contid/core';
import { DockerAgent, Spool, SpoolConsumer, backfillDocker, dockerClient, dockerExecDescriber, dockerIdentifier, socketOfHost, spoolDirFromEnv } from '@contid/docker';
import { dockerFrontCommand } from './docker-front';
import { applyDrainNice, niceOption } from './drain-nice';

interface DockerArgs {
  host?: string;
  spool?: string;
  'wait-ms': number;
}

type AgentArgs = Omit<DockerArgs, 'wait-ms'> & { nice: number };

const log = (line: string): void => void process.stderr.write(`contid docker: ${line}\n`);

/** The Docker side runs fail-open unless told otherwise: a container must not fail to start because contid is down. */
function openTagger(): Tagger {
  const policy: FailPolicy | undefined = process.env.CONTID_FAIL_POLICY ? undefined : 'open';
  return Tagger.open({ failPolicy: policy });
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
    const docker = dockerClient(socketOfHost(argv.host));
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

const agent: CommandModule<object, AgentArgs> = {
  command: 'agent',
  describe: 'long-running: drain the spool as the shim writes it, follow Docker events (exec, die, destroy), backfill at start',
  builder: (y) => y.options({ ...options, nice: niceOption }),
  handler: async (argv) => {
    applyDrainNice(argv.nice);
    const tagger = openTagger();
    const a = new DockerAgent({ docker: dockerClient(socketOfHost(argv.host)), tagger, spool: new Spool(argv.spool ?? spoolDirFromEnv()), log });
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
export const dockerAgent: CommandModule<object, AgentArgs> = { ...agent, command: 'docker' };

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
