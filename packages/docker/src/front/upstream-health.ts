import { readFileSync, statSync } from 'node:fs';
import type { HealthResult } from '@contid/core';
import { DAEMON_JSON, RUNTIME_NAME } from '../daemon-json';

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
  const runtime = defaultRuntimeHealth();
  if (!open) return [{ check, status: 'ok', detail: `${path} (dockerd behind contid docker front) is root-only (${mode}, uid ${st.uid} gid ${st.gid})` }, runtime];
  return [
    runtime,
    {
      check,
      status: 'warn',
      detail: `${path} (dockerd behind contid docker front) is ${mode}, uid ${st.uid} gid ${st.gid}: users other than root reach dockerd there without the front, and what they run names no requester`,
      fix: `restart contid-docker-front (it makes the socket root-only), and set "group": "root" in daemon.json so that dockerd's restarts keep it so`,
    },
  ];
}

/**
 * Behind the front, whether dockerd's default runtime is contid's (as daemon.json says; a
 * --default-runtime on dockerd's command line is not read): only then does the front refuse
 * other runtimes to users other than root, since otherwise every plain `docker run` is untagged
 * anyway. CONTID_DOCKER_DAEMON_JSON names another file.
 */
export function defaultRuntimeHealth(file = process.env.CONTID_DOCKER_DAEMON_JSON || DAEMON_JSON): HealthResult {
  const check = 'docker default runtime';
  let runtime = 'runc';
  try {
    const cfg = JSON.parse(readFileSync(file, 'utf8')) as { 'default-runtime'?: unknown };
    if (typeof cfg['default-runtime'] === 'string') runtime = cfg['default-runtime'];
  } catch {
    // No daemon.json (or not JSON): dockerd's default, runc.
  }
  if (runtime === RUNTIME_NAME) return { check, status: 'ok', detail: `dockerd's default runtime is contid's (${file}): the front refuses other runtimes to users other than root` };
  return {
    check,
    status: 'warn',
    detail: `dockerd's default runtime is ${JSON.stringify(runtime)} (${file}), not contid's: containers run untagged unless asked for with --runtime ${RUNTIME_NAME}, and contid docker front does not refuse other runtimes (docker run --runtime runc runs with no audit session of its own)`,
    fix: 'contid install docker --default-runtime, then restart dockerd',
  };
}
