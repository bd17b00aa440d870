import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError, makeDirectory } from '@contid/core';
import { DROP_IN_MARKER, UnitCommands, renderDropIn } from './drop-in';
import { UNIT_DIRS, UnitFragment, normalizeUnitName, readUnitFiles } from './unit-file';

/** Units whose Exec lines contid wraps, one per line; `contid install systemd UNIT` adds to it. */
export const UNITS_FILE = '/etc/contid/systemd-units';
/** Where systemd looks for an administrator's generators (systemd.generator(7)). */
export const GENERATOR_PATH = '/etc/systemd/system-generators/contid-systemd-generator';
/**
 * The generated drop-in's name: drop-ins apply in file-name order across directories, and
 * contid's must come last so no later drop-in adds an Exec line it did not wrap.
 */
export const GENERATED_DROP_IN = 'zz-contid.conf';

/** The generator executable next to this module (in dist: generator-main.js). */
export const GENERATOR_MAIN = join(__dirname, 'generator-main.js');

/** The launcher systemd runs: Node, the entry point, and the command lines the drop-ins use. */
export function generatorLauncher(node: string, commands: UnitCommands, units = UNITS_FILE): string {
  if (commands.wrapper.includes("'")) throw new ContidError(`cannot write contid's command lines into the generator: they hold a single quote`);
  return [
    '#!/bin/sh',
    `${DROP_IN_MARKER}: wraps every Exec line of the units listed in ${units}`,
    `exec ${node} ${GENERATOR_MAIN} --units ${units} --wrapper '${commands.wrapper}' "$@"`,
    '',
  ].join('\n');
}

export function readUnitList(file = UNITS_FILE): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

export function writeUnitList(units: readonly string[], file = UNITS_FILE): void {
  makeDirectory(join(file, '..'), 0o755);
  writeFileSync(file, [`${DROP_IN_MARKER}: units whose every Exec line runs in the invocation's container (contid-systemd-generator)`, ...units, ''].join('\n'));
}

/** A unit's own definition: contid's drop-ins (generated or installed by an older contid) left out. */
export function ownFragments(fragments: UnitFragment[]): UnitFragment[] {
  return fragments.filter((f) => !f.text.startsWith(DROP_IN_MARKER));
}

export interface GeneratorOutcome {
  written: string[];
  /** One line per unit that could not be wrapped (it then runs as it is, so say why loudly). */
  errors: string[];
}

/**
 * systemd.generator(7): at every boot and daemon-reload, writes each listed unit's drop-in
 * into the generator directory from the unit's current files, so a changed ExecStart= (a
 * package upgrade) is wrapped as it now is; nothing is ever a stale copy.
 */
export function generate(outDir: string, units: readonly string[], commands: UnitCommands, dirs: readonly string[] = UNIT_DIRS): GeneratorOutcome {
  const out: GeneratorOutcome = { written: [], errors: [] };
  for (const name of units) {
    try {
      const unit = normalizeUnitName(name);
      const fragments = ownFragments(readUnitFiles(unit, dirs));
      if (fragments.length === 0) throw new ContidError(`no unit file in ${dirs.join(', ')}`);
      const text = renderDropIn(unit, fragments, commands, []);
      const dir = join(outDir, `${unit}.d`);
      makeDirectory(dir);
      writeFileSync(join(dir, GENERATED_DROP_IN), text);
      out.written.push(join(dir, GENERATED_DROP_IN));
    } catch (e) {
      out.errors.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}
