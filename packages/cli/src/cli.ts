import type { Argv, CommandModule } from 'yargs';
import { VERBATIM_ARGS } from './commands/verbatim-args';
import { refuseRepeatedOptions, type DeclaredOptions } from './repeated-options';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs' CommandModule is generic over each command's own args
type AnyCommand = CommandModule<any, any>;

/**
 * The contid command line as yargs reads it: global options, every command's rules, the
 * `commands` given. `fail(message, error)` is yargs' failure callback (main: one line, exit).
 * Required by main only when a run's words are not plain (plain-args.ts): yargs is loaded here.
 */
export function contidCli(args: string[], commands: AnyCommand[], fail: (msg: string, err: Error | undefined) => void): Argv {
  const yargs = require('yargs') as typeof import('yargs');
  let cli = yargs(args)
    .scriptName('contid')
    .parserConfiguration(VERBATIM_ARGS)
    .usage('$0 <command> [options]\n\nAudit identity for Linux containers.')
    .option('state-dir', { type: 'string', describe: 'registry directory (default /var/lib/contid, or $CONTID_STATE_DIR)' })
    .option('json', GLOBAL_JSON_OPTION.json)
    .option('write-path', { choices: ['auto', 'session', 'procfs'], describe: 'how the kernel carries the ID (default auto, or $CONTID_WRITE_PATH)' })
    .middleware((argv) => {
      // Global options travel as the CONTID_* variables every package reads (configFromEnv).
      if (typeof argv.stateDir === 'string') process.env.CONTID_STATE_DIR = argv.stateDir;
      if (typeof argv.writePath === 'string') process.env.CONTID_WRITE_PATH = argv.writePath;
    })
    // Every command's: an option that takes one value, given twice, is refused (not joined).
    .check((argv, options) => (refuseRepeatedOptions(argv, options as unknown as DeclaredOptions), true))
    .strict()
    .demandCommand(1, 'name a command; see contid --help')
    .recommendCommands()
    .help()
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail(fail);
  for (const command of commands) cli = cli.command(command);
  skipHelpCache(cli);
  return cli;
}

/** The global `--json` (the only global option a plain run may carry: plain-args.ts). */
export const GLOBAL_JSON_OPTION = {
  json: { type: 'boolean', default: false, describe: 'machine-readable output' },
} as const;

/**
 * yargs 17 renders the whole help of a command each time the command runs (runCommand calls
 * its usage's cacheHelpMessage once the handler has started), so that a failure after an await
 * can still print it. contid never prints help on a failure (failWith: one line), and that
 * rendering — every option of `search` laid out by cliui — cost ≈ 60–80 ms CPU of each run.
 * `--help` renders it as before. An internal of yargs: where it is not there, nothing changes.
 */
function skipHelpCache(cli: Argv): void {
  type Internals = { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } };
  const usage = (cli as unknown as Internals).getInternalMethods?.().getUsageInstance?.();
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => undefined;
}
