/** The parts of an OCI runtime spec (`<bundle>/config.json`) contid reads. */
export interface OciProcess {
  args?: string[];
  user?: { uid?: number; gid?: number; username?: string };
  cwd?: string;
  terminal?: boolean;
}

export interface OciSpec {
  ociVersion?: string;
  annotations?: Record<string, string>;
  hostname?: string;
  process?: OciProcess;
  root?: { path?: string };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a copied config.json; a malformed one yields the reason, never a throw. */
export function parseOciSpec(text: string | null): { spec: OciSpec; error: string | null } {
  if (text === null) return { spec: {}, error: 'no config.json was copied' };
  try {
    const v: unknown = JSON.parse(text);
    if (!isObject(v)) return { spec: {}, error: 'config.json is not a JSON object' };
    const annotations = isObject(v.annotations)
      ? Object.fromEntries(Object.entries(v.annotations).filter((e): e is [string, string] => typeof e[1] === 'string'))
      : undefined;
    return { spec: { ...(v as OciSpec), annotations }, error: null };
  } catch (e) {
    return { spec: {}, error: `config.json is malformed: ${(e as Error).message}` };
  }
}

/** Parses runc exec's process.json; null when missing or malformed. */
export function parseOciProcess(text: string | null): OciProcess | null {
  if (text === null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return isObject(v) ? (v as OciProcess) : null;
  } catch {
    return null;
  }
}
