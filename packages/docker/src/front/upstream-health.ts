import { statSync } from 'node:fs';
import type { HealthResult } from '@contid/core';

/** Where the documented set-up moves dockerd's socket (`contid docker front --upstream`). */
export const FRONT_UPSTREAM = '/run/docker-real.sock';

/**
 * `contid doctor`: dockerd's own socket behind `contid docker front` must be root-only, or group
 * `docker` can start containers there that no front ever noted (no requester, auid of dockerd).
 * The front makes it so when it starts; dockerd makes it anew (root:docker 0660) when it restarts.
 * Nothing to say where there is no such socket (no front set up). CONTID_DOCKER_UPSTREAM names another path.
 */
export function frontUpstreamHealth(path = process.env.CONTID_DOCKER_UPSTREAM || FRONT_UPSTREAM): HealthResult[] {
  let st;
  try {
    st = statSync(path);
  } catch {
    return [];
  }
  if (!st.isSocket()) return [];
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  const open = st.uid !== 0 || (st.mode & 0o007) !== 0 || (st.gid !== 0 && (st.mode & 0o070) !== 0);
  const check = 'docker front upstream';
  if (!open) return [{ check, status: 'ok', detail: `${path} (dockerd behind contid docker front) is root-only (${mode}, uid ${st.uid} gid ${st.gid})` }];
  return [
    {
      check,
      status: 'warn',
      detail: `${path} (dockerd behind contid docker front) is ${mode}, uid ${st.uid} gid ${st.gid}: users other than root reach dockerd there without the front, and what they run names no requester`,
      fix: `restart contid-docker-front (it makes the socket root-only), and set "group": "root" in daemon.json so that dockerd's restarts keep it so`,
    },
  ];
}
