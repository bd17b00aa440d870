import { ContidError } from '@contid/core';

export const DAEMON_JSON = '/etc/docker/daemon.json';
export const SHIM_INSTALL_PATH = '/usr/local/libexec/contid/contid-runc';
export const RUNTIME_NAME = 'contid';
/** How contid's runtime shim begins: what tells it from another program at a runtime's path. */
export const SHIM_HEADER = '#!/bin/sh\n# contid-runc';
/** The compiled shim (integrations/docker/contid-runc.c, an ELF file) carries this line instead. */
export const COMPILED_SHIM_MARKER = "\n# contid-runc-fast: contid's compiled runtime shim\n";

/** Whether a file's bytes are contid's runtime shim: the sh by its first lines, the compiled one by its marker. */
export function isShimBytes(bytes: Buffer): boolean {
  if (bytes.subarray(0, SHIM_HEADER.length).toString('latin1') === SHIM_HEADER) return true;
  return bytes.subarray(0, 4).toString('latin1') === '\x7fELF' && bytes.includes(COMPILED_SHIM_MARKER, 0, 'latin1');
}

type Json = Record<string, unknown>;

export interface DaemonJsonChange {
  text: string;
  changed: boolean;
}

export function parseDaemonJson(text: string, file: string = DAEMON_JSON): Json {
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

/** The file's own indentation (a tab, or its number of spaces), so an edit does not reformat it. */
function indentOf(text: string): string | number {
  const m = /^\{[ \t]*\r?\n([ \t]+)\S/.exec(text.trimStart());
  if (!m) return 2;
  return m[1]!.includes('\t') ? '\t' : m[1]!.length;
}

function render(next: Json, original: string): string {
  return JSON.stringify(next, null, indentOf(original)) + '\n';
}

/** The same JSON value, key order aside (how a restore decides whether the backup still describes the file). */
export function sameJson(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as Json).sort().map((k) => [k, canon((v as Json)[k])]))
      : Array.isArray(v)
        ? v.map(canon)
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

/** Adds the contid runtime (and optionally makes it the default), keeping every other key and the file's indentation. */
export function addRuntime(text: string, shimPath: string, opts: { makeDefault?: boolean; file?: string } = {}): DaemonJsonChange {
  const file = opts.file ?? DAEMON_JSON;
  const cfg = parseDaemonJson(text, file);
  const runtimes = runtimesOf(cfg, file);
  const next: Json = { ...cfg, runtimes: { ...runtimes, [RUNTIME_NAME]: { path: shimPath } } };
  if (opts.makeDefault) {
    if (cfg['default-runtime'] !== undefined && cfg['default-runtime'] !== RUNTIME_NAME && cfg['default-runtime'] !== 'runc') {
      throw new ContidError(`${file} already sets default-runtime "${String(cfg['default-runtime'])}"; contid will not replace it`);
    }
    next['default-runtime'] = RUNTIME_NAME;
  }
  return { text: render(next, text), changed: !sameJson(next, cfg) };
}

/** Removes what addRuntime added, keeping the file's indentation. */
export function removeRuntime(text: string, opts: { file?: string } = {}): DaemonJsonChange {
  const file = opts.file ?? DAEMON_JSON;
  const cfg = parseDaemonJson(text, file);
  const runtimes = { ...runtimesOf(cfg, file) };
  delete runtimes[RUNTIME_NAME];
  const next: Json = { ...cfg, runtimes };
  if (Object.keys(runtimes).length === 0) delete next.runtimes;
  if (next['default-runtime'] === RUNTIME_NAME) delete next['default-runtime'];
  return { text: render(next, text), changed: !sameJson(next, cfg) };
}
