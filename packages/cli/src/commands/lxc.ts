import type { Argv, CommandModule } from 'yargs';
import { ContidError, Tagger, replaceProcess } from '@contid/core';
import { hookContext, planAttach, planStart, runHook, tellStarter } from '@contid/lxc';
import { Spool, SpoolConsumer, consumerHooks, spoolDirFromEnv } from '@contid/oci';
import { adapters } from '../adapters';
import { printJson, warn } from '../output';
import { reconcile } from './reconcile';
import { VERBATIM_ARGS } from './verbatim-args';

interface LxcArgs {
  name: string;
  args?: (string | number)[];
  '--'?: (string | number)[];
  json?: boolean;
}

// `contid doctor` flags running LXC containers that are not tagged.

const words = (xs: (string | number)[] | undefined): string[] => (xs ?? []).map(String);

/** lxc-* options pass through untouched, before or after `--`. */
const passThrough = (y: Argv) =>
  y
    .parserConfiguration({ ...VERBATIM_ARGS, 'populate--': true, 'unknown-options-as-args': true })
    .positional('name', { type: 'string', demandOption: true });

const start: CommandModule<object, LxcArgs> = {
  command: 'start <name> [args..]',
  describe: 'lxc-start NAME in a fresh audit session bound to a new contid',
  builder: (y) => passThrough(y).example('$0 lxc start web -- -F', 'foreground, as lxc@.service does'),
  handler: (argv) => {
    const tagger = Tagger.open();
    const { argv: command, tag, warnings } = planStart(tagger, argv.name, [...words(argv.args), ...words(argv['--'])]);
    warnings.forEach(warn);
    if (tag.auditError) warn(`FAIL-OPEN: running untracked by the audit trail: ${tag.auditError}`);
    tagger.close();
    // contid-lxc's start-host hook tells an untagged start by this (LXC passes it to hooks).
    if (tag.binding.session !== null) process.env.CONTID_LXC_SESSION = String(tag.binding.session);
    replaceProcess(command);
  },
};

const attach: CommandModule<object, LxcArgs> = {
  command: 'attach <name> [args..]',
  describe: 'lxc-attach to NAME in a fresh session bound to its contid (op=setns); lxc-attach options before --, the command after',
  builder: (y) => passThrough(y).example('$0 lxc attach web -- ps', 'run ps inside web'),
  handler: async (argv) => {
    const tagger = Tagger.open();
    // contid-lxc hands over here when it cannot vouch for the instance: what it and the hooks
    // spooled may still wait for contid serve (just started, or down). Record it first; a claim
    // is an atomic rename, so serve and this never both take an entry.
    await new SpoolConsumer({ tagger, spool: new Spool(spoolDirFromEnv()), ...consumerHooks(adapters()) }).drain();
    // A row of an instance that is gone must not take the attach (op=end reason="found gone").
    reconcile(tagger);
    const { argv: command, tag } = planAttach(tagger, argv.name, words(argv.args), words(argv['--']));
    if (tag.auditError) warn(`FAIL-OPEN: running untracked by the audit trail: ${tag.auditError}`);
    tagger.close();
    replaceProcess(command);
  },
};

const hook: CommandModule<{ json: boolean }, { json: boolean; args?: (string | number)[] }> = {
  command: 'hook [args..]',
  describe: 'the LXC hook (lxc.hook.start-host, lxc.hook.post-stop); reads LXC_NAME, LXC_PID, LXC_HOOK_TYPE',
  // LXC appends NAME lxc TYPE (lxc.hook.version 0): three words of the variadic positional.
  builder: (y) => y.parserConfiguration({ ...VERBATIM_ARGS, 'unknown-options-as-args': true }),
  handler: (argv) => {
    const ctx = hookContext(process.env, words(argv.args));
    const tagger = Tagger.open();
    try {
      const outcome = runHook(tagger, ctx);
      if (outcome.action === 'untagged') {
        warn(outcome.warning);
        tellStarter(ctx.name, `contid: warning: ${outcome.warning}`);
      }
      // LXC logs a hook's stdout at DEBUG level only, so this is for people running it by hand.
      if (argv.json) printJson(outcome);
      else process.stdout.write(`${outcome.action} ${outcome.container.contid} ${outcome.container.name}\n`);
    } finally {
      tagger.close();
    }
  },
};

export const lxcCommand: CommandModule<object, object> = {
  command: 'lxc <command>',
  describe: 'LXC: start/attach containers tagged, and the hook LXC calls',
  builder: (y) =>
    y
      .command(start)
      .command(attach)
      .command(hook as unknown as CommandModule<object, object>)
      .demandCommand(1),
  handler: () => {
    throw new ContidError('name an lxc command: start, attach, hook', 2);
  },
};
