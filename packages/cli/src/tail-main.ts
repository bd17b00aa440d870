#!/usr/bin/env node
import { ContidError } from '@contid/core';
import { failWith, leaveQuietlyOnClosedOutput } from './output';
import { parseOptionTable } from './option-table';
import { EVENT_FILTER_OPTIONS } from './commands/event-filter-args';
import { TAIL_OUTPUT_OPTIONS, TAIL_SOURCE_OPTIONS, runTail, type TailArgs } from './commands/tail';

/**
 * `contid tail` and nothing else of the contid command: the entry the auditd plugin's
 * launcher runs (a plugin lives as long as auditd, and every megabyte it holds counts; yargs
 * and the command's wiring are not loaded). It takes `tail` and the options of `contid tail`
 * (the same option tables) plus the global `--state-dir`; `contid tail --help` documents them.
 */
const GLOBAL_OPTIONS = {
  'state-dir': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

async function main(args: string[]): Promise<void> {
  if (args[0] !== 'tail') throw new ContidError('this entry runs `contid tail` only: tail [options] (see contid tail --help)', 2);
  const argv = parseOptionTable(args.slice(1), { ...GLOBAL_OPTIONS, ...TAIL_SOURCE_OPTIONS, ...EVENT_FILTER_OPTIONS, ...TAIL_OUTPUT_OPTIONS });
  if (typeof argv['state-dir'] === 'string') process.env.CONTID_STATE_DIR = argv['state-dir'];
  await runTail(argv as unknown as TailArgs);
}

leaveQuietlyOnClosedOutput();
main(process.argv.slice(2)).catch((e) => failWith(e));
