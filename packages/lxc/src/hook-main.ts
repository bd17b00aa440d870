#!/usr/bin/env node
/**
 * The LXC hook as its own small executable, which `contid install lxc` puts in the config.
 * LXC runs it at every start and stop and waits for it; without yargs and the other adapters
 * it starts ≈ 30 ms faster than the full `contid lxc hook` (same code, kept for use by hand).
 * Usage (LXC appends `NAME lxc TYPE`): hook-main.js [--state-dir DIR]
 */
import { ContidError, Tagger } from '@contid/core';
import { hookContext, runHook } from './hook';
import { tellStarter } from './starter';

function main(argv: string[]): void {
  let args = argv;
  if (args[0] === '--state-dir') {
    if (!args[1]) throw new ContidError('--state-dir needs a directory', 2);
    process.env.CONTID_STATE_DIR = args[1];
    args = args.slice(2);
  }
  const ctx = hookContext(process.env, args);
  const tagger = Tagger.open();
  try {
    const outcome = runHook(tagger, ctx);
    if (outcome.action === 'untagged') {
      // to LXC's log, and to whoever ran lxc-start (LXC shows them neither)
      process.stderr.write(`contid: warning: ${outcome.warning}\n`);
      tellStarter(ctx.name, `contid: warning: ${outcome.warning}`);
    }
    // LXC logs a hook's stdout at DEBUG level.
    process.stdout.write(`${outcome.action} ${outcome.container.contid} ${outcome.container.name}\n`);
  } finally {
    tagger.close();
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  // One line and a non-zero exit, like the CLI: LXC shows it and aborts the start.
  const known = e instanceof ContidError;
  process.stderr.write(`contid: ${known ? '' : 'internal error: '}${(e as Error).message.split('\n')[0]}\n`);
  process.exit(known ? (e as ContidError).exitCode : 70);
}
