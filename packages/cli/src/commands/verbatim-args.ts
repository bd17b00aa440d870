/**
 * yargs reads every word that looks like a number as one ("0x10" → 16, "1e3" → 1000, "007" → 7),
 * positionals and the words after `--` included: a command's argv, a container's name or a file
 * name would reach contid rewritten, and `show 0x…` found the container whose contid equals that
 * number (outside attack 6). Options that are numbers say `type: 'number'` and are still read so.
 * yargs replaces its parser configuration on each call, so every command that sets its own
 * spreads this into it.
 */
export const VERBATIM_ARGS = { 'parse-numbers': false, 'parse-positional-numbers': false } as const;
