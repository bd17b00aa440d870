/**
 * yargs reads every word that looks like a number as one ("0x10" → 16, "1e3" → 1000, "007" → 7),
 * positionals and the words after `--` included: a command's argv, a container's name or a file
 * name would reach contid rewritten, and `show 0x…` found the container whose contid equals that
 * number (outside attack 6). Options that are numbers say `type: 'number'` and are still read so.
 * Nor does a dot in an option's name make an object of it (`--container.toString 1` reached the
 * code as { toString: 1 }: internal errors, a search for "[object Object]" — outside attack 7):
 * `--container.x` is an unknown option. yargs replaces its parser configuration on each call, so
 * every command that sets its own spreads this into it.
 */
export const VERBATIM_ARGS = { 'parse-numbers': false, 'parse-positional-numbers': false, 'dot-notation': false } as const;
