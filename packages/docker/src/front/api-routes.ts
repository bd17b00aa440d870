/**
 * The Docker API calls after which a container or an exec runs processes, so the front must
 * note who asked before dockerd passes them to the runtime. Everything else is only relayed.
 * Paths may carry a version prefix (/v1.41/…); refs are ids, id prefixes or names.
 */
export type ApiRoute =
  | { kind: 'container-create' }
  | { kind: 'container-start'; ref: string }
  | { kind: 'exec-create'; ref: string }
  | { kind: 'exec-start'; id: string }
  | { kind: 'container-remove'; ref: string };

const VERSIONED = /^(?:\/v\d+(?:\.\d+)?)?(\/[^?]*)(?:\?.*)?$/;

function segment(s: string): string | null {
  try {
    const v = decodeURIComponent(s);
    return v === '' || v.includes('/') ? null : v;
  } catch {
    return null;
  }
}

export function routeOf(method: string, url: string): ApiRoute | null {
  const path = VERSIONED.exec(url)?.[1];
  if (!path) return null;
  const parts = path.split('/').slice(1);
  if (method === 'POST') {
    if (parts.length === 2 && parts[0] === 'containers' && parts[1] === 'create') return { kind: 'container-create' };
    if (parts.length === 3 && parts[0] === 'containers') {
      const ref = segment(parts[1]!);
      if (ref === null) return null;
      if (parts[2] === 'start' || parts[2] === 'restart') return { kind: 'container-start', ref };
      if (parts[2] === 'exec') return { kind: 'exec-create', ref };
    }
    if (parts.length === 3 && parts[0] === 'exec' && parts[2] === 'start') {
      const id = segment(parts[1]!);
      return id === null ? null : { kind: 'exec-start', id };
    }
  }
  if (method === 'DELETE' && parts.length === 2 && parts[0] === 'containers') {
    const ref = segment(parts[1]!);
    return ref === null ? null : { kind: 'container-remove', ref };
  }
  return null;
}

/** A full 64-hex object id (what runc and containerd see), as opposed to a name or a prefix. */
export const isFullId = (ref: string): boolean => /^[0-9a-f]{64}$/.test(ref);
