#!/usr/bin/env node
import { failWith, leaveQuietlyOnClosedOutput, stdioWritten } from './output';
import { rewriteAusearchArgs } from './commands/ausearch-argv';
import { COMMAND_LOADERS, commandsFor } from './commands';
import { plainCommandArgs } from './plain-args';

/** The contid command: wiring only; every command's work lives in a package. */
async function main(): Promise<void> {
  // process.argv without node and the script: what yargs/helpers' hideBin gives for node
  const args = rewriteAusearchArgs(process.argv.slice(2));
  // `contid search` written plainly runs without yargs (plain-args.ts: the same argv, or null)
  if (args[0] === 'search') {
    const [search] = COMMAND_LOADERS.search();
    const { SEARCH_OPTIONS } = require('./commands/search') as typeof import('./commands/search');
    const { GLOBAL_JSON_OPTION } = require('./cli') as typeof import('./cli');
    const argv = plainCommandArgs(args, 'search', 'files', { ...GLOBAL_JSON_OPTION, ...SEARCH_OPTIONS });
    if (argv !== null) {
      await search.handler(argv as never);
      // The answer is written by now (synchronous writes; an interpreting thread is waited
      // for in finish()); stderr's lines may still be queued for a full pipe, and a failed
      // write's error not yet seen: stdioWritten waits for both. Then nothing is left to run:
      // leave without tearing V8's heap down page by page (an munmap each, every one a TLB
      // shootdown on the threads' CPUs), which the kernel does at once at exit.
      // process.exitCode stays the status.
      await stdioWritten();
      process.exit();
    }
  }
  const { contidCli } = require('./cli') as typeof import('./cli');
  await contidCli(args, commandsFor(args), (msg, err) => failWith(err ?? new Error(msg), Boolean(msg))).parseAsync();
}

leaveQuietlyOnClosedOutput();
main().catch((e) => failWith(e));
