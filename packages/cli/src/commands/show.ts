import type { CommandModule } from 'yargs';
import { ContidError, FoldedBinding, Registry, configFromEnv, escapeText, formatContainerId } from '@contid/core';
import { printJson } from '../output';

/**
 * One line per healthcheck: Docker runs a probe as an exec every interval, so a day holds
 * thousands of runs; the registry keeps them folded (one row per check with a count).
 */
interface HealthcheckView {
  command: string;
  probe: unknown;
  count: number;
  first: number;
  last: number;
  lastSession: number | null;
  /** Every run's session (each one's events are the container's: `contid search` attributes them from the log). */
  sessions: number[];
  /** The last run's requester: the container's, taken for dockerd (`byDockerd`), when contid docker front noted one. */
  requester: unknown;
  /** The last run's contest: dockerd's run of a container someone else changed since its last start (nobody's alone). */
  contested: unknown;
}

function healthcheckViews(folds: FoldedBinding[], sessionsOf: (fold: FoldedBinding) => number[]): HealthcheckView[] {
  return folds.map((f) => {
    const argv = Array.isArray(f.detail.command) ? f.detail.command : Array.isArray(f.detail.dockerCommand) ? f.detail.dockerCommand : ['?'];
    return {
      command: argv.map(String).join(' '),
      probe: f.detail.probe ?? null,
      count: f.count,
      first: f.firstAt,
      last: f.lastAt,
      lastSession: f.lastSession,
      sessions: sessionsOf(f),
      requester: f.detail.requester ?? null,
      contested: f.detail.contested ?? null,
    };
  });
}

interface ShowArgs {
  container: string;
  json: boolean;
}

/**
 * Labels as `KEY=VALUE` words: a key or value that holds a space, `=`, a quote or a backslash,
 * or is empty, is written as a JSON string, so one label (`team="ops owner=root"`) never reads
 * as two (outside attack 13, F10). Labels are the orchestrator's, set by whoever made it.
 */
export function labelWords(labels: Readonly<Record<string, string>>): string {
  const word = (s: string): string => (s === '' || /[\s="\\]/.test(s) ? JSON.stringify(s) : s);
  return Object.entries(labels).map(([k, v]) => `${word(k)}=${word(v)}`).join(' ') || '-';
}

export const showCommand: CommandModule<{ json: boolean }, ShowArgs> = {
  command: 'show <container>',
  describe: 'one container: its registry row, bindings and children (by contid, name or runtime-id prefix)',
  handler: (argv) => {
    const registry = Registry.open(configFromEnv().stateDir);
    const c = registry.find(String(argv.container));
    if (!c) throw new ContidError(`unknown container "${argv.container}"`);
    const bindings = registry.bindings(c.contid);
    const healthchecks = healthcheckViews(registry.folds(c.contid), (f) => registry.foldSessions(f.id));
    const children = registry.children(c.contid).map((k) => formatContainerId(k.contid));
    registry.close();
    if (argv.json) return printJson({ ...c, bindings, healthchecks, children });
    const lines = [
      `contid:       ${formatContainerId(c.contid)}`,
      `name:         ${c.name}`,
      `orchestrator: ${c.orchestrator}`,
      `runtime id:   ${c.runtimeId ?? '-'}`,
      `image:        ${c.image ?? '-'}`,
      `state:        ${c.state}${c.endedAt ? ` (ended ${new Date(c.endedAt).toISOString()})` : ''}`,
      `created:      ${new Date(c.createdAt).toISOString()}`,
      `parent:       ${c.parent === null ? '-' : formatContainerId(c.parent)}`,
      `children:     ${children.join(' ') || '-'}`,
      `init pid:     ${c.initPid ?? '-'}   session: ${c.session ?? '-'}`,
      `namespaces:   ${Object.entries(c.namespaces).map(([k, v]) => `${k}:${v}`).join(' ') || '-'}`,
      `labels:       ${labelWords(c.labels)}`,
      ...(c.auditError ? [`AUDIT ERROR:  ${c.auditError}`] : []),
      'bindings:',
      ...bindings.map(
        (b) => `  ${new Date(b.at).toISOString()}  ${b.op.padEnd(8)} pid ${b.pid}  session ${b.session ?? '-'}  ${JSON.stringify(b.detail)}`,
      ),
      ...healthchecks.map(
        (h) => `  ${new Date(h.last).toISOString()}  healthcheck ×${h.count} since ${new Date(h.first).toISOString()}, last session ${h.lastSession ?? '-'}  ${JSON.stringify(h.command)}${h.requester ? `  requester ${JSON.stringify(h.requester)}` : ''}${h.contested ? `  contested ${JSON.stringify(h.contested)}` : ''}`,
      ),
    ];
    // Names, labels, runtime ids and binding details are the orchestrator's (or a nested
    // container's) words: each line is escaped so none can move the cursor or add a line.
    process.stdout.write(lines.map(escapeText).join('\n') + '\n');
  },
};
