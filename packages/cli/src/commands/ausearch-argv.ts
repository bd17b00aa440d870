/**
 * ausearch's spellings on contid's command line. ausearch has multi-letter short options
 * (`-ts`, `-if`, `-ui`) that yargs would read as bundles of one-letter flags, so `search`
 * and `tail` arguments (and `report`'s, where aureport spells them the same) are rewritten
 * to contid's long names before yargs sees them.
 * Same meaning as ausearch 3.0.9 (ausearch(8)); contid's own long names stay as they are.
 */
export const AUSEARCH_SPELLINGS: Readonly<Record<string, string>> = {
  '-if': '--input',
  '--input-logs': '--input',
  '-i': '--interpret',
  '-r': '--raw',
  '-ts': '--start',
  '-te': '--end',
  '-k': '--key',
  '-m': '--type',
  '--message': '--type',
  '-p': '--pid',
  '-pp': '--ppid',
  '-ui': '--uid',
  '-ua': '--any-uid',
  '--uid-all': '--any-uid',
  '-ue': '--euid',
  '--uid-effective': '--euid',
  '-gi': '--gid',
  '-sc': '--syscall',
  '-x': '--exe',
  '--executable': '--exe',
  '-sv': '--success',
  '-f': '--filename',
  '--file': '--filename',
  '-hn': '--host',
  '-n': '--node',
  '-e': '--exit',
};

/** Spellings whose contid name would mean something else to `tail` (its --file is the log to follow). */
const SEARCH_ONLY = new Set(['-f', '--file']);

/**
 * What `report` shares with aureport(8): input, interpret and the time window. aureport's other
 * one-letter options choose a report (`-x` executables, `-f` files), not a filter, so they are
 * not rewritten to search's filters.
 */
const AUREPORT_SHARED = new Set(['-if', '--input-logs', '-i', '-ts', '-te']);

function rewrites(command: string, flag: string): boolean {
  if (command === 'tail') return !SEARCH_ONLY.has(flag);
  if (command === 'report') return AUREPORT_SHARED.has(flag);
  return true;
}

/**
 * `args` (without node and script) with ausearch spellings of `search`/`tail`/`report` options
 * replaced; `-ts=today` forms are split. Everything after `--`, and other commands, untouched.
 */
export function rewriteAusearchArgs(args: readonly string[]): string[] {
  const at = args.findIndex((a) => a === 'search' || a === 'tail' || a === 'report');
  if (at < 0) return [...args];
  const command = args[at];
  const out = args.slice(0, at + 1);
  for (let i = at + 1; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const eq = a.indexOf('=');
    const flag = eq > 0 && a.startsWith('-') ? a.slice(0, eq) : a;
    const long = AUSEARCH_SPELLINGS[flag];
    if (long === undefined || !rewrites(command, flag)) out.push(a);
    else if (eq > 0 && flag !== a) out.push(long, a.slice(eq + 1));
    else out.push(long);
  }
  return out;
}
