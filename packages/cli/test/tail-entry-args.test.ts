import yargs from 'yargs';
import { ContidError } from '@contid/core';
import { parseOptionTable } from '../src/option-table';
import { EVENT_FILTER_OPTIONS } from '../src/commands/event-filter-args';
import { TAIL_OUTPUT_OPTIONS, TAIL_SOURCE_OPTIONS } from '../src/commands/tail';

/**
 * The auditd plugin's entry (tail-main.ts) parses `contid tail`'s options without yargs, from
 * the same option tables. Oracle: yargs itself, given the same tables and the same words, as
 * `contid tail` parses them.
 */
const TABLE = { ...TAIL_SOURCE_OPTIONS, ...EVENT_FILTER_OPTIONS, ...TAIL_OUTPUT_OPTIONS };

function byYargs(args: string[]): Record<string, unknown> {
  const parsed = yargs(args).options(TAIL_SOURCE_OPTIONS).options(EVENT_FILTER_OPTIONS).options(TAIL_OUTPUT_OPTIONS).strict().exitProcess(false).fail((msg, err) => {
    throw err ?? new Error(msg);
  }).parseSync() as Record<string, unknown>;
  // yargs also keeps aliases, camelCase copies, `_` and `$0`: compare the table's own names
  return Object.fromEntries(Object.keys(TABLE).filter((k) => parsed[k] !== undefined).map((k) => [k, parsed[k]]));
}

describe('the plugin entry parses contid tail options as yargs does', () => {
  it.each([
    // what `contid install auditd-plugin` writes into the launcher, each way
    [['--source', 'plugin', '--format', 'json', '--output', '/var/log/contid/live.jsonl', '--rotate-size', '100M']],
    [['--source', 'plugin', '--format', 'compact', '--socket', '/run/contid/live.sock', '--container', 'web']],
    [['--source=plugin', '-o', 'out.jsonl', '-c', 'web', '--include-nested', '-m', 'EXECVE', 'SYSCALL', '-k', 'k1', '--pid', '42', '--queue', '500', '--report-interval', '100']],
    [['--source', 'file', '--file', '/x.log', '--from-start', '--format', 'ecs', '--label', 'a=1', '--label', 'b=2', '--event-timeout', '3000', '--raw-records']],
    [['--source', 'plugin', '--trust-dir', '/k', '--trust-unsigned-by-exe', '/usr/bin/node', '--log-node', 'n1', '--success', 'no', '--uid', '0', '--auid', '1000']],
  ])('%j', (args) => {
    expect(parseOptionTable(args, TABLE)).toEqual(byYargs(args));
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--queue', 'many'], /--queue takes a number/],
    [['--format', 'xml'], /--format must be one of raw, interpret, text, csv, json, ecs, compact/],
    [['--source', 'network'], /--source must be one of auto, multicast, plugin, file/],
    [['--output'], /argument missing/],
    [['stray'], /Unexpected argument 'stray'/],
    // as contid tail refuses them (outside attack 7, F10): dotted names, one-value options twice
    [['--socket.toString', '1'], /Unknown option '--socket.toString'/],
    [['--socket', 'a', '--socket', 'b'], /^--socket takes one value and was given 2 \("a", "b"\); give it once$/],
    [['-c', 'a', '--container', 'b'], /^--container takes one value and was given 2 \("a", "b"\); give it once$/],
    [['--queue', '1', '--queue', '2'], /^--queue takes one value and was given 2 \("1", "2"\); give it once$/],
  ])('%j is a usage error (exit 2), one line', (args, message) => {
    let caught: unknown;
    try {
      parseOptionTable(args, TABLE);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ContidError);
    expect((caught as ContidError).exitCode).toBe(2);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('\n');
  });
});
