import fc from 'fast-check';
import { contidCli, GLOBAL_JSON_OPTION } from '../src/cli';
import { rewriteAusearchArgs } from '../src/commands/ausearch-argv';
import { SEARCH_OPTIONS, searchCommand } from '../src/commands/search';
import { plainCommandArgs } from '../src/plain-args';
import type { OptionSpec } from '../src/option-table';

/**
 * `contid search` written plainly is read without yargs (main.ts, plain-args.ts). Oracle: the
 * contid command line itself (cli.ts, as main runs it), given the same words: for every list
 * of words the plain reader takes, the handler must get exactly what yargs would give it
 * (every key: names, aliases, camelCase, defaults, positionals); every list it does not take
 * goes to yargs as before.
 */
const TABLE = { ...GLOBAL_JSON_OPTION, ...SEARCH_OPTIONS };

function byYargs(args: string[]): Record<string, unknown> {
  let got: Record<string, unknown> | null = null;
  const command = { ...searchCommand, handler: (argv: Record<string, unknown>) => void (got = { ...argv }) };
  contidCli(args, [command], (msg, err) => {
    throw err ?? new Error(msg);
  }).parseSync();
  if (got === null) throw new Error('yargs ran no handler');
  return got;
}

const plain = (args: string[]): Record<string, unknown> | null => plainCommandArgs(args, 'search', 'files', TABLE);

describe('plain search arguments are read as yargs reads them', () => {
  it.each([
    // the bench's query, and the shapes docs/search.md shows
    [['search', '--container', 'c-7', '-if', '/var/tmp/contid-bench/audit-1g-v2.log']],
    [['search', '--container', 'c-7', '-if', '/var/tmp/contid-bench/audit-1g-v2.log', '--no-index']],
    [['search', '-c', 'web', '--start', 'today']],
    [['search', '-c', 'web', '--start', '11/29/2026', '09:00', '--end', '11/29/2026', '10:00', '--interpret']],
    [['search', '-c', 'web', '--include-nested', '--format', 'ecs', '-if', '/var/log/audit']],
    [['search', '-m', 'SYSCALL', '-sv', 'no', '-ts', 'today', '-i']],
    [['search', '--orchestrator', 'docker', '-m', 'EXECVE', '-k', 'exec', '--success', 'no', '--json']],
    [['search', '--show-rejected']],
    [['search', '--untagged', '-ts', 'today']],
    [['search', '-if', 'a.log', 'b.log', '--session', '7', '--pid', '0', '-q', 'c.log']],
    [['search', '--label', 'a=b', 'c=d', '--trust-dir', '/k', '--index-dir', '/i', '--event-timeout', '3000', 'x.log']],
  ])('%j: read plainly, the same as yargs', (words) => {
    const args = rewriteAusearchArgs(words);
    const got = plain(args);
    expect(got).not.toBeNull();
    expect(got).toEqual(byYargs(args));
  });

  it.each([
    [['search', '--container=web']],
    [['search', '--container', 'a', '-c', 'b']],
    [['search', '--pid', '0x10']],
    [['search', '--pid', '007']],
    [['search', '--format', 'xml']],
    [['search', '--bogus']],
    [['search', '--strict', 'false']],
    [['search', '--', 'x']],
    [['search', '--help']],
    [['search', '-cq', 'web']],
    [['search', '--container']],
    [['search', '--container', '-x']],
    [['search', '--no-container', 'x']],
    [['search', '--state-dir', '/s']],
    [['--json', 'search']],
    [['search', '']],
    [['search', '-c', 'web', '-']], // stdin: a word yargs reads apart from an array's values
  ])('%j: left to yargs', (args) => {
    expect(plain(args)).toBeNull();
  });

  // words from every kind: options of each type under each spelling, values plain and not
  const names = Object.entries(TABLE as Readonly<Record<string, OptionSpec>>).flatMap(([name, spec]) => {
    const alias = spec.alias;
    const spellings = [`--${name}`, ...(alias === undefined ? [] : [alias.length === 1 ? `-${alias}` : `--${alias}`])];
    return spec.type === 'boolean' ? [...spellings, `--no-${name}`] : spellings;
  });
  const word = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...names) },
    { weight: 6, arbitrary: fc.constantFrom('web', 'c-7', 'a.log', '/var/log/audit', 'SYSCALL', 'today', '09:00', 'a=b', '7', '0', '42', 'raw', 'interpret', 'csv', 'no') },
    { weight: 2, arbitrary: fc.constantFrom('-', '', 'true', 'false', '007', '0x10', '1e3', '-13', '--', '--bogus', '-x', '-cq', '--container=web', '--state-dir', '--json', '--help', 'search') },
    { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  );

  it('random words: whenever read plainly, exactly what yargs gives the handler (property)', () => {
    let taken = 0;
    fc.assert(
      fc.property(fc.array(word, { maxLength: 10 }), (words) => {
        const args = ['search', ...words];
        const got = plain(args);
        if (got === null) return;
        taken++;
        expect(got).toEqual(byYargs(args));
      }),
      { numRuns: 3000 },
    );
    // the plain reader took a good share of them (else this test would prove nothing)
    expect(taken).toBeGreaterThan(300);
  });
});
