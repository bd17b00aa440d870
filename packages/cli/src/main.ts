#!/usr/bin/env node
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { failWith, leaveQuietlyOnClosedOutput } from './output';
import { rewriteAusearchArgs } from './commands/ausearch-argv';
import { commandsFor } from './commands';

/** The contid command: wiring only; every command's work lives in a package. */
async function main(): Promise<void> {
  const args = rewriteAusearchArgs(hideBin(process.argv));
  let cli = yargs(args)
    .scriptName('contid')
    .usage('$0 <command> [options]\n\nAudit identity for Linux containers.')
    .option('state-dir', { type: 'string', describe: 'registry directory (default /var/lib/contid, or $CONTID_STATE_DIR)' })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
    .option('write-path', { choices: ['auto', 'session', 'procfs'], describe: 'how the kernel carries the ID (default auto, or $CONTID_WRITE_PATH)' })
    .middleware((argv) => {
      // Global options travel as the CONTID_* variables every package reads (configFromEnv).
      if (typeof argv.stateDir === 'string') process.env.CONTID_STATE_DIR = argv.stateDir;
      if (typeof argv.writePath === 'string') process.env.CONTID_WRITE_PATH = argv.writePath;
    })
    .strict()
    .demandCommand(1, 'name a command; see contid --help')
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => failWith(err ?? new Error(msg), Boolean(msg)));
  for (const command of commandsFor(args)) cli = cli.command(command);
  await cli.parseAsync();
}

leaveQuietlyOnClosedOutput();
main().catch((e) => failWith(e));
