import { ContidError, MAX_NODE_PREFIX } from '@contid/core';
import type * as ClientNodeModule from '@kubernetes/client-node';
import { httpStatusOf } from './client';

export const DEFAULT_PREFIX_CONFIGMAP = 'contid-node-prefixes';

export interface PrefixClaimOptions {
  /** Namespace and name of the ConfigMap whose data maps node name → prefix. */
  namespace: string;
  name?: string;
  nodeName: string;
  /** The prefix this node's registry already issues IDs under: claim that one or fail. */
  preferred?: number | null;
  /** Optimistic-concurrency retries before giving up (each 409 means another node won a round). */
  maxConflicts?: number;
}

export interface PrefixClaim {
  prefix: number;
  /** False when the node already held it (restart). */
  claimedNow: boolean;
  conflicts: number;
}

type ConfigMapApi = Pick<ClientNodeModule.CoreV1Api, 'readNamespacedConfigMap' | 'createNamespacedConfigMap' | 'replaceNamespacedConfigMap'>;

function parsePrefix(value: string | undefined): number | null {
  if (value === undefined || !/^\d+$/.test(value)) return null;
  const n = Number(value);
  return n >= 1 && n <= MAX_NODE_PREFIX ? n : null;
}

/** The lowest prefix no other node holds, or the preferred one when it is free. */
function choosePrefix(taken: Set<number>, preferred: number | null, nodeName: string): number {
  if (preferred !== null) {
    if (taken.has(preferred)) {
      throw new ContidError(`node ${nodeName}'s registry issues IDs under prefix ${preferred}, which another node has claimed`);
    }
    return preferred;
  }
  for (let p = 1; p <= MAX_NODE_PREFIX; p++) if (!taken.has(p)) return p;
  throw new ContidError(`all ${MAX_NODE_PREFIX} node prefixes are claimed`);
}

/**
 * Claims a cluster-unique ID prefix for a node through the API server itself: one ConfigMap
 * holds every node's claim and each update carries the resourceVersion it was read at, so
 * two nodes racing for the same free prefix cannot both win (the loser gets 409 Conflict,
 * re-reads and picks again). A node that already holds a prefix keeps it across restarts.
 */
export async function claimNodePrefix(api: ConfigMapApi, options: PrefixClaimOptions): Promise<PrefixClaim> {
  const name = options.name ?? DEFAULT_PREFIX_CONFIGMAP;
  const { namespace, nodeName } = options;
  const maxConflicts = options.maxConflicts ?? 50;
  let conflicts = 0;
  for (;;) {
    let cm: ClientNodeModule.V1ConfigMap | null;
    try {
      cm = await api.readNamespacedConfigMap({ name, namespace });
    } catch (e) {
      if (httpStatusOf(e) !== 404) throw e;
      cm = null;
    }
    const data = cm?.data ?? {};
    const mine = parsePrefix(data[nodeName]);
    const sharing = Object.entries(data).filter(([node, v]) => node !== nodeName && mine !== null && parsePrefix(v) === mine);
    if (sharing.length) {
      // Only a hand edit can do this; issuing IDs now would make them ambiguous across nodes.
      throw new ContidError(`prefix ${mine} of node ${nodeName} is also claimed by ${sharing.map(([n]) => n).join(', ')} in ${namespace}/${name}; fix the ConfigMap`);
    }
    if (mine !== null) {
      if (options.preferred != null && options.preferred !== mine) {
        throw new ContidError(`node ${nodeName} holds prefix ${mine} in ${namespace}/${name}, but its registry issues IDs under ${options.preferred}`);
      }
      return { prefix: mine, claimedNow: false, conflicts };
    }
    const taken = new Set(Object.entries(data).flatMap(([node, v]) => (node === nodeName ? [] : [parsePrefix(v)].filter((p): p is number => p !== null))));
    const prefix = choosePrefix(taken, options.preferred ?? null, nodeName);
    try {
      if (cm === null) {
        await api.createNamespacedConfigMap({
          namespace,
          body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data: { [nodeName]: String(prefix) } },
        });
      } else {
        // resourceVersion makes this a compare-and-swap: a concurrent claim turns it into 409.
        await api.replaceNamespacedConfigMap({
          name,
          namespace,
          body: { ...cm, data: { ...data, [nodeName]: String(prefix) } },
        });
      }
      return { prefix, claimedNow: true, conflicts };
    } catch (e) {
      if (httpStatusOf(e) !== 409) throw e;
      if (++conflicts > maxConflicts) throw new ContidError(`gave up claiming a node prefix after ${conflicts} conflicts on ${namespace}/${name}`);
    }
  }
}
