import { ContidError } from '@contid/core/dist/errors';

/** What yargs' `getOptions()` says of a command's options (the part read here). */
export interface DeclaredOptions {
  key: Record<string, unknown>;
  array: string[];
  alias: Record<string, string[]>;
}

/** The message for an option that takes one value but was given several. */
export function repeatedOptionError(name: string, values: unknown[]): ContidError {
  return new ContidError(`--${name} takes one value and was given ${values.length} (${values.map((v) => JSON.stringify(v)).join(', ')}); give it once`, 2);
}

const camel = (name: string): string => name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * The variadic positionals of contid's commands (`install <target> [args..]`, `search
 * [files..]`, …): yargs lists them among the options but they take many words by design. A
 * table test keeps this list equal to the `[NAME..]` of every command string.
 */
export const VARIADIC_POSITIONALS: ReadonlySet<string> = new Set(['args', 'command', 'files']);

/**
 * yargs joins the values of an option given twice (`--container a -c b`) into an array, and
 * code that takes one value then reads "a,b" (outside attack 7, F10): which one was meant is
 * the user's to say. Refuses, as a usage error, any declared option that came as an array
 * unless it is declared `array` (under any of its names). Positionals (`_`, `--`, the variadic
 * ones) are not options.
 */
export function refuseRepeatedOptions(argv: Record<string, unknown>, options: DeclaredOptions): void {
  const repeatable = new Set<string>();
  for (const name of options.array) {
    for (const n of [name, ...(options.alias[name] ?? [])]) repeatable.add(camel(n));
  }
  for (const [name, aliases] of Object.entries(options.alias)) {
    if (aliases.some((a) => repeatable.has(camel(a)))) repeatable.add(camel(name));
  }
  for (const name of Object.keys(options.key)) {
    const value = argv[name];
    if (name === '_' || name === '--' || VARIADIC_POSITIONALS.has(name) || !Array.isArray(value) || repeatable.has(camel(name))) continue;
    throw repeatedOptionError(name, value);
  }
}
