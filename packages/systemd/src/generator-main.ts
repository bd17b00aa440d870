#!/usr/bin/env node
/**
 * contid's systemd generator entry point. systemd runs the installed sh launcher with
 * `NORMAL_DIR EARLY_DIR LATE_DIR`; the launcher adds `--wrapper 'COMMAND LINE' --units FILE`
 * (a launcher of an earlier contid also passes `--contid 'COMMAND LINE'`, no longer used: every
 * line now runs through the wrapper).
 * Errors go to stderr (the journal) and never fail the boot.
 */
import { UNITS_FILE, generate, readUnitList } from './generator';
import { STATIC_BUSYBOX, notStaticRootExecutable } from './static-exec';

function main(argv: string[]): number {
  let wrapper = '';
  let units = UNITS_FILE;
  const dirs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--contid') i++;
    else if (argv[i] === '--wrapper') wrapper = argv[++i] ?? '';
    else if (argv[i] === '--units') units = argv[++i] ?? '';
    else dirs.push(argv[i]);
  }
  if (!wrapper || dirs.length === 0) {
    process.stderr.write('contid-systemd-generator: usage: --wrapper COMMAND --units FILE NORMAL_DIR [EARLY_DIR LATE_DIR]\n');
    return 2;
  }
  // Checked at every run: a unit's root lines never start without it (they would run with the unit's environment).
  const why = notStaticRootExecutable(STATIC_BUSYBOX);
  const listed = readUnitList(units);
  const { errors } = why
    ? { errors: listed.map((u) => `${u}: its root lines need a static busybox (${why}; install busybox-static)`) }
    : generate(dirs[0], listed, { wrapper, busybox: STATIC_BUSYBOX });
  for (const e of errors) process.stderr.write(`contid-systemd-generator: ${e}; this unit runs untagged\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
