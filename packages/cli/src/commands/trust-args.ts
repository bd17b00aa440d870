import { TrustStore } from '@contid/core/dist/trust-store';
import { configFromEnv } from '@contid/core/dist/config';
import { escapeText } from '@contid/core/dist/printable';
import { readSigner } from '@contid/core/dist/node-keys';
import type { Attributor, AttributorOptions } from '@contid/audit/dist/attributor';
import type { EventFilterArgs } from './event-filter-args';

/** Unknown keys named one by one on stderr; the rest are summed up in one line. */
const KEYS_NAMED = 3;

/** The keys `search` and `tail` verify bindings with, and the legacy rule only when named. */
export function trustOptions(
  argv: Pick<EventFilterArgs, 'trust-dir' | 'trust-unsigned-by-exe' | 'log-node'>,
  say: (line: string) => void,
): Pick<AttributorOptions, 'trust' | 'legacyTrustedExes' | 'unprefixedNode'> {
  const dir = argv['trust-dir'] ?? configFromEnv().trustDir;
  const trust = TrustStore.load(dir);
  for (const p of trust.problems) say(escapeText(p));
  // Root on the node that wrote the log trusts its own key without importing it.
  let ownNode: string | null = null;
  try {
    const own = readSigner(configFromEnv().stateDir);
    if (own && !trust.get(own.keyId)) trust.add(own.publicEntry);
    ownNode = own?.publicEntry.node ?? null;
  } catch {
    // not root, or no key here: the trust directory alone
  }
  const legacy = argv['trust-unsigned-by-exe']?.map(String).filter((e) => e !== '');
  if (legacy && legacy.length > 0) {
    say(`WARNING: --trust-unsigned-by-exe accepts UNSIGNED bindings from ${legacy.join(', ')}: any container with CAP_AUDIT_WRITE can forge those`);
  }
  // Records without node= are this node's (its key's name, else its configured name), unless
  // the reader says whose log it is.
  const unprefixedNode = argv['log-node'] ?? ownNode ?? configFromEnv().nodeName;
  return { trust, legacyTrustedExes: legacy && legacy.length > 0 ? legacy : null, unprefixedNode };
}

/**
 * Every binding that was not used, said plainly: how many, why, and the fix (for bindings
 * signed by a node whose key this reader lacks: import that node's key).
 */
export function rejectionReport(att: Attributor, trustDir: string | undefined): string[] {
  if (att.rejectedCount === 0) return [];
  const why = [...att.rejectedBy].map(([reason, n]) => `${n} ${reason}`).join(', ');
  const out = [`rejected ${att.rejectedCount} binding record(s) that could not be verified (${why}); their sessions are not attributed (--show-rejected lists them)`];
  const dir = trustDir ?? configFromEnv().trustDir;
  // A log may hold bindings of many keys (a whole fleet's, or forgeries under made-up keys):
  // the keys with the most bindings are named, the rest counted in one line.
  const keys = [...att.unknownKeys.values()].sort((a, b) => b.count - a.count);
  for (const k of keys.slice(0, KEYS_NAMED)) {
    out.push(`${k.count} binding(s) signed by node ${k.node} with key ${k.keyId}, which is not in ${dir}: on ${k.node} run \`contid keys export > ${k.node}.keys\`, then here \`contid keys import --node ${k.node} ${k.node}.keys\` (or pass --trust-dir DIR)`);
  }
  const rest = keys.slice(KEYS_NAMED);
  const shed = att.unknownKeys.shed;
  if (shed.keys > 0) {
    // The table let go of its least used keys: the bindings are still exact, the keys a lower bound.
    const bindings = rest.reduce((n, k) => n + k.count, shed.bindings);
    out.push(
      `and at least ${rest.length} more key(s) (${bindings} binding(s); only the ${att.unknownKeys.max} keys with the most bindings are kept): import each node's key the same way; --show-rejected lists every record`,
    );
  } else if (rest.length > 0) {
    const nodes = new Set(rest.map((k) => k.node)).size;
    const bindings = rest.reduce((n, k) => n + k.count, 0);
    out.push(`and ${rest.length} more key(s) of ${nodes} node(s) (${bindings} binding(s)): import each node's key the same way; --show-rejected lists every record`);
  }
  if ((att.rejectedBy.get('unsigned') ?? 0) > 0) out.push('unsigned bindings come from another program or from contid before signed records; --trust-unsigned-by-exe EXE accepts them at your own risk');
  return out.map(escapeText);
}
