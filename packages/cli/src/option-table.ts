import { parseArgs } from 'node:util';
import { ContidError } from '@contid/core';
import { repeatedOptionError } from './repeated-options';

/** The part of a yargs option declaration that `parseOptionTable` reads. */
export interface OptionSpec {
  alias?: string;
  type?: 'string' | 'boolean' | 'number';
  array?: boolean;
  choices?: readonly string[];
  default?: unknown;
}

/**
 * Parses `args` by a yargs option table (the same object a command's builder passes to
 * `.options()`), with node's own `util.parseArgs`: for an entry that must not pay for yargs
 * (the auditd plugin's `contid tail`: yargs and what it loads measured +5 MB RSS there).
 * Defaults, numbers and choices as yargs applies them; an unknown option, a missing value or
 * a value outside its choices is a usage error (exit 2), as in the full command.
 */
export function parseOptionTable(args: string[], table: Readonly<Record<string, OptionSpec>>): Record<string, unknown> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(table)) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string', multiple: spec.array === true };
    if (spec.alias !== undefined && spec.alias.length === 1) options[name].short = spec.alias;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: spreadArrays(args, table), options, strict: true, allowPositionals: false, tokens: true });
  } catch (e) {
    throw new ContidError((e as Error).message.split('\n')[0], 2);
  }
  const { values } = parsed as { values: Record<string, unknown> };
  // parseArgs keeps the last of a one-value option given twice; yargs' contid refuses it (repeated-options.ts)
  const given = new Map<string, unknown[]>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || options[t.name]?.type !== 'string' || options[t.name].multiple) continue;
    const seen = given.get(t.name) ?? [];
    given.set(t.name, [...seen, t.value]);
    if (seen.length > 0) throw repeatedOptionError(t.name, given.get(t.name)!);
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    let value = values[name] ?? spec.default;
    if (value === undefined) continue;
    if (spec.type === 'number') {
      const numbers = [value].flat().map(Number);
      if (numbers.some((n) => Number.isNaN(n))) throw new ContidError(`--${name} takes a number, got "${[value].flat().join(' ')}"`, 2);
      value = spec.array ? numbers : numbers[0];
    }
    if (spec.choices && ![value].flat().every((v) => spec.choices!.includes(String(v)))) {
      throw new ContidError(`--${name} must be one of ${spec.choices.join(', ')}, got "${[value].flat().join(' ')}"`, 2);
    }
    out[name] = value;
  }
  return out;
}

/** yargs gives an array option every word after it up to the next option (`-m EXECVE SYSCALL`); parseArgs wants the option again before each. */
function spreadArrays(args: string[], table: Readonly<Record<string, OptionSpec>>): string[] {
  const arrays = new Set<string>();
  for (const [name, spec] of Object.entries(table)) {
    if (!spec.array) continue;
    arrays.add(`--${name}`);
    if (spec.alias !== undefined) arrays.add(spec.alias.length === 1 ? `-${spec.alias}` : `--${spec.alias}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i];
    out.push(flag);
    if (!arrays.has(flag)) continue;
    if (i + 1 < args.length) out.push(args[++i]); // its first value, whatever it looks like
    while (i + 1 < args.length && !args[i + 1].startsWith('-')) out.push(flag, args[++i]);
  }
  return out;
}
