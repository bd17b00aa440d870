import type * as ClientNodeModule from '@kubernetes/client-node';
import { ContidError } from '@contid/core';

export type ClientNode = typeof ClientNodeModule;
export type KubeConfig = ClientNodeModule.KubeConfig;

let loaded: ClientNode | undefined;

/**
 * @kubernetes/client-node 1.x is ESM-only. Node ≥ 20.19 `require()`s ESM without top-level
 * await natively; we go through Node's own loader (not this module's `require`) because
 * hosts with their own module registry (jest's) cannot load ESM that way.
 */
export function clientNode(): ClientNode {
  if (!loaded) {
    const { createRequire } = process.getBuiltinModule('node:module');
    try {
      loaded = createRequire(__filename)('@kubernetes/client-node') as ClientNode;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw e;
      throw new ContidError(`the Kubernetes agent needs Node.js >= 20.19 (require of ES modules); this is ${process.version}`);
    }
  }
  return loaded;
}

/** The kubeconfig a node agent uses: an explicit file, else $KUBECONFIG, ~/.kube/config or in-cluster. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new (clientNode().KubeConfig)();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

/** The HTTP status of a failed API call (ApiException.code) or watch (statusCode); undefined for network errors. */
export function httpStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/**
 * Worth retrying later: the API server is unreachable, overloaded or restarting (a socket
 * error such as ECONNREFUSED, a timeout, 429 or 5xx). A bad kubeconfig or a 403 is not.
 */
export function isTransient(err: unknown): boolean {
  const status = httpStatusOf(err);
  if (status !== undefined) return status === 429 || status >= 500;
  const e = err as { code?: unknown; type?: unknown } | null;
  return (typeof e?.code === 'string' && /^E[A-Z_]+$/.test(e.code)) || e?.type === 'system' || e?.type === 'request-timeout';
}

/** One line for logs: the API's Status message when there is one. */
export function describeApiError(err: unknown): string {
  const status = httpStatusOf(err);
  const e = err as { body?: unknown; message?: unknown };
  let message = typeof e?.message === 'string' ? e.message.split('\n')[0] : String(err);
  let body: unknown = e?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      // not a Status object: keep the error's own message
    }
  }
  const statusMessage = (body as { message?: unknown } | null)?.message;
  if (typeof statusMessage === 'string') message = statusMessage;
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}
