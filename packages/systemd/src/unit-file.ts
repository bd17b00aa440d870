import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError } from '@contid/core';

/** One file of a unit's definition, in the order systemd applies them. */
export interface UnitFragment {
  path: string;
  text: string;
}

/** systemd's unit search path for system units, highest priority first. */
export const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];

/** `web` → `web.service`; rejects what cannot be a unit name (and so a path). */
export function normalizeUnitName(name: string): string {
  const unit = /\.[a-z]+$/.test(name) ? name : `${name}.service`;
  if (!/^[A-Za-z0-9:_.\\@-]+\.service$/.test(unit)) throw new ContidError(`"${name}" is not a service unit name (e.g. web.service, systemd-nspawn@.service)`, 2);
  return unit;
}

/**
 * The unit's fragments as systemd would merge them: from `systemctl cat` when systemd runs,
 * else read from the unit search path (main file, then drop-ins ordered by file name).
 */
export function readUnit(unit: string, dirs: string[] = UNIT_DIRS): UnitFragment[] {
  const r = spawnSync('systemctl', ['cat', '--no-pager', '--', unit], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) return splitSystemctlCat(r.stdout);
  const fragments = readUnitFiles(unit, dirs);
  if (fragments.length === 0) throw new ContidError(`no unit file for ${unit} in ${dirs.join(', ')}`);
  return fragments;
}

/** `systemctl cat` prints each file behind a `# /path` line. */
export function splitSystemctlCat(out: string): UnitFragment[] {
  const fragments: UnitFragment[] = [];
  for (const line of out.split('\n')) {
    const header = /^# (\/\S+)$/.exec(line);
    if (header) fragments.push({ path: header[1], text: '' });
    else if (fragments.length) fragments[fragments.length - 1].text += `${line}\n`;
  }
  return fragments;
}

/**
 * The unit's files read from disk, never through systemctl: a generator runs while systemd
 * reloads and must not call back into it.
 */
export function readUnitFiles(unit: string, dirs: readonly string[] = UNIT_DIRS): UnitFragment[] {
  const template = /^([^@]+@)[^.]+(\.service)$/.exec(unit);
  const names = template ? [unit, `${template[1]}${template[2]}`] : [unit];
  const main = names.flatMap((n) => dirs.map((d) => join(d, n))).find((p) => existsSync(p));
  if (!main) return [];
  // A drop-in file name in a higher-priority directory hides the same name in lower ones.
  const dropIns = new Map<string, string>();
  for (const n of [...names].reverse()) {
    for (const d of [...dirs].reverse()) {
      const dir = join(d, `${n}.d`);
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).filter((f) => f.endsWith('.conf'))) dropIns.set(f, join(dir, f));
    }
  }
  const ordered = [...dropIns.keys()].sort().map((f) => dropIns.get(f)!);
  return [main, ...ordered].map((path) => ({ path, text: readFileSync(path, 'utf8') }));
}

/** A `Key=value` of one section across fragments, continuation lines joined, in file order. */
export function settings(fragments: UnitFragment[], section: string, key: string): { value: string; path: string }[] {
  const out: { value: string; path: string }[] = [];
  for (const f of fragments) {
    let current = '';
    let pending = '';
    for (const raw of f.text.split('\n')) {
      const line = pending + raw.trim();
      if (line.endsWith('\\')) {
        pending = `${line.slice(0, -1)} `;
        continue;
      }
      pending = '';
      if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
      const s = /^\[(.+)\]$/.exec(line);
      if (s) current = s[1];
      else if (current === section) {
        const eq = line.indexOf('=');
        if (eq > 0 && line.slice(0, eq).trim() === key) out.push({ value: line.slice(eq + 1).trim(), path: f.path });
      }
    }
  }
  return out;
}

/** The effective list of a list setting such as ExecStart=: an empty assignment resets it. */
export function effectiveList(entries: { value: string; path: string }[]): { value: string; path: string }[] {
  let list: { value: string; path: string }[] = [];
  for (const e of entries) list = e.value === '' ? [] : [...list, e];
  return list;
}
