import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ContidError } from '@contid/core';

export const DAEMON_JSON = '/etc/docker/daemon.json';
export const SHIM_INSTALL_PATH = '/usr/local/libexec/contid/contid-runc';
export const RUNTIME_NAME = 'contid';

type Json = Record<string, unknown>;

export interface DaemonJsonChange {
  text: string;
  changed: boolean;
}

function parse(text: string, file: string): Json {
  if (text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ContidError(`${file} is not valid JSON (${(e as Error).message}); fix it first, contid left it untouched`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ContidError(`${file} is not a JSON object; contid left it untouched`);
  return v as Json;
}

function runtimesOf(cfg: Json, file: string): Json {
  const r = cfg.runtimes ?? {};
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ContidError(`${file}: "runtimes" is not an object; contid left it untouched`);
  return r as Json;
}

/** Adds the contid runtime (and optionally makes it the default), keeping every other key. */
export function addRuntime(text: string, shimPath: string, opts: { makeDefault?: boolean; file?: string } = {}): DaemonJsonChange {
  const file = opts.file ?? DAEMON_JSON;
  const cfg = parse(text, file);
  const runtimes = runtimesOf(cfg, file);
  const next: Json = { ...cfg, runtimes: { ...runtimes, [RUNTIME_NAME]: { path: shimPath } } };
  if (opts.makeDefault) {
    if (cfg['default-runtime'] !== undefined && cfg['default-runtime'] !== RUNTIME_NAME && cfg['default-runtime'] !== 'runc') {
      throw new ContidError(`${file} already sets default-runtime "${String(cfg['default-runtime'])}"; contid will not replace it`);
    }
    next['default-runtime'] = RUNTIME_NAME;
  }
  const out = JSON.stringify(next, null, 2) + '\n';
  return { text: out, changed: JSON.stringify(next) !== JSON.stringify(cfg) };
}

/** Removes what addRuntime added. */
export function removeRuntime(text: string, opts: { file?: string } = {}): DaemonJsonChange {
  const file = opts.file ?? DAEMON_JSON;
  const cfg = parse(text, file);
  const runtimes = { ...runtimesOf(cfg, file) };
  delete runtimes[RUNTIME_NAME];
  const next: Json = { ...cfg, runtimes };
  if (Object.keys(runtimes).length === 0) delete next.runtimes;
  if (next['default-runtime'] === RUNTIME_NAME) delete next['default-runtime'];
  return { text: JSON.stringify(next, null, 2) + '\n', changed: JSON.stringify(next) !== JSON.stringify(cfg) };
}

/** Writes daemon.json atomically, after a timestamped backup of the old one. */
export function writeDaemonJson(file: string, change: DaemonJsonChange): string | null {
  if (!change.changed) return null;
  mkdirSync(dirname(file), { recursive: true });
  let backup: string | null = null;
  if (existsSync(file)) {
    backup = `${file}.contid-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    copyFileSync(file, backup);
  }
  parse(change.text, file); // never write what does not parse
  const tmp = `${file}.contid-tmp`;
  writeFileSync(tmp, change.text, { mode: 0o644 });
  renameSync(tmp, file);
  return backup;
}

/** Copies the shim into place (root-owned, 0755) through a temp name. */
export function installShim(source: string, target = SHIM_INSTALL_PATH): void {
  mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
  const tmp = `${target}.tmp`;
  copyFileSync(source, tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
}

export function removeShim(target = SHIM_INSTALL_PATH): boolean {
  if (!existsSync(target)) return false;
  if (!readFileSync(target, 'utf8').startsWith('#!/bin/sh\n# contid-runc')) throw new ContidError(`${target} is not contid's shim; leaving it`);
  unlinkSync(target);
  return true;
}
