import type { OptionSpec } from './option-table';

/**
 * A command's arguments read without yargs when they are written plainly — for `contid search`,
 * whose indexed query is timed against ausearch and where loading and running yargs was ≈ 6 % of
 * the instructions (docs/search.md). Plain means: the command word first, then only
 * - `--name` or a one-letter alias `-x` of an option of the table (no `--name=value`, no groups),
 * - a boolean as `--name` or `--no-name`, not followed by `true`/`false` (yargs would take it),
 * - a string, number or choice option followed by one value that does not begin with `-`; a
 *   number as plain digits (yargs' Number() of `0x10`, `1e3` or `007` is left to yargs), a choice
 *   among its choices,
 * - an array option followed by one or more such values (every word up to the next option, as
 *   yargs takes them),
 * - positional words (not empty, not beginning with `-`),
 * each option at most once. Anything else — `--`, an unknown or repeated option, a missing value,
 * `--help` — returns null, and the caller hands the words to yargs, which parses or refuses them
 * as before. What is returned is what yargs gives the handler for the same words: each option
 * under its name, its aliases and their camelCase spellings, defaults applied, the positionals
 * under `positional`, `_` and `$0` (plain-args.test.ts holds the two equal on random words).
 */
export function plainCommandArgs(args: readonly string[], command: string, positional: string, table: Readonly<Record<string, OptionSpec>>): Record<string, unknown> | null {
  if (args[0] !== command) return null;
  const canonical = new Map<string, string>();
  for (const [name, spec] of Object.entries(table)) {
    canonical.set(name, name);
    if (spec.alias !== undefined) canonical.set(spec.alias, name);
  }
  const given = new Map<string, unknown>();
  const positionals: string[] = [];
  for (let i = 1; i < args.length; i++) {
    const word = args[i];
    if (isValue(word)) {
      positionals.push(word);
      continue;
    }
    const long = word.startsWith('--');
    const spelled = word.slice(long ? 2 : 1);
    // `-x` is a one-letter name only, `--name` a longer one (yargs reads `-ab` as `-a -b`)
    if (long !== spelled.length > 1 || spelled.includes('=')) return null;
    let name = canonical.get(spelled);
    let negated = false;
    if (name === undefined && long && spelled.startsWith('no-')) {
      name = canonical.get(spelled.slice(3));
      negated = true;
    }
    if (name === undefined || given.has(name)) return null;
    const spec = table[name];
    if (spec.type === 'boolean') {
      const next = args[i + 1];
      if (next === 'true' || next === 'false') return null;
      given.set(name, !negated);
      continue;
    }
    if (negated) return null;
    if (spec.array) {
      const values: string[] = [];
      while (i + 1 < args.length && isValue(args[i + 1])) values.push(args[++i]);
      if (values.length === 0 || spec.type === 'number' || spec.choices) return null;
      given.set(name, values);
      continue;
    }
    const value = args[i + 1];
    if (value === undefined || !isValue(value)) return null;
    i++;
    if (spec.type === 'number') {
      if (!/^(?:0|[1-9][0-9]{0,14})$/.test(value)) return null;
      given.set(name, Number(value));
    } else {
      if (spec.choices && !spec.choices.includes(value)) return null;
      given.set(name, value);
    }
  }
  const argv: Record<string, unknown> = { _: [command] };
  for (const [name, spec] of Object.entries(table)) {
    const value = given.has(name) ? given.get(name) : spec.default;
    if (value === undefined) continue;
    for (const key of spec.alias === undefined ? [name] : [name, spec.alias]) {
      argv[key] = value;
      if (key.includes('-')) argv[camelCase(key)] = value;
    }
  }
  argv[positional] = positionals;
  argv.$0 = 'contid';
  return argv;
}

/** A word yargs takes as a value: not empty, not beginning with `-`. */
const isValue = (word: string): boolean => word.length > 0 && word[0] !== '-';

/** yargs-parser's camelCase of a dashed name (`just-one` → `justOne`, `extra-obj2` → `extraObj2`). */
const camelCase = (name: string): string => name.replace(/-([a-z0-9])/gi, (_m, c: string) => c.toUpperCase());
