import type { CommandModule } from 'yargs';
import { BindingRecord, ContidError, Registry, configFromEnv, escapeText, formatContainerId } from '@contid/core';
import { printJson } from '../output';

/** One line per healthcheck command: Docker runs a probe as an exec every interval, so a day holds thousands. */
interface HealthcheckFold {
  command: string;
  count: number;
  first: number;
  last: number;
  lastSession: number | null;
}

function foldHealthchecks(bindings: BindingRecord[]): { others: BindingRecord[]; healthchecks: HealthcheckFold[] } {
  const folds = new Map<string, HealthcheckFold>();
  const others: BindingRecord[] = [];
  for (const b of bindings) {
    if (b.detail.healthcheck !== true) {
      others.push(b);
      continue;
    }
    const argv = Array.isArray(b.detail.command) ? b.detail.command : Array.isArray(b.detail.dockerCommand) ? b.detail.dockerCommand : ['?'];
    const command = argv.map(String).join(' ');
    const f = folds.get(command) ?? { command, count: 0, first: b.at, last: b.at, lastSession: b.session };
    f.count++;
    if (b.at < f.first) f.first = b.at;
    if (b.at >= f.last) [f.last, f.lastSession] = [b.at, b.session];
    folds.set(command, f);
  }
  return { others, healthchecks: [...folds.values()] };
}

interface ShowArgs {
  container: string;
  json: boolean;
}

export const showCommand: CommandModule<{ json: boolean }, ShowArgs> = {
  command: 'show <container>',
  describe: 'one container: its registry row, bindings and children (by contid, name or runtime-id prefix)',
  handler: (argv) => {
    const registry = Registry.open(configFromEnv().stateDir);
    const c = registry.find(String(argv.container));
    if (!c) throw new ContidError(`unknown container "${argv.container}"`);
    const bindings = registry.bindings(c.contid);
    const children = registry.children(c.contid).map((k) => formatContainerId(k.contid));
    registry.close();
    const { others, healthchecks } = foldHealthchecks(bindings);
    // JSON keeps every binding (each session stays attributable) and adds the folded view.
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
      `labels:       ${Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '-'}`,
      ...(c.auditError ? [`AUDIT ERROR:  ${c.auditError}`] : []),
      'bindings:',
      ...others.map(
        (b) => `  ${new Date(b.at).toISOString()}  ${b.op.padEnd(8)} pid ${b.pid}  session ${b.session ?? '-'}  ${JSON.stringify(b.detail)}`,
      ),
      ...healthchecks.map(
        (h) => `  ${new Date(h.last).toISOString()}  healthcheck ×${h.count} since ${new Date(h.first).toISOString()}, last session ${h.lastSession ?? '-'}  ${JSON.stringify(h.command)}`,
      ),
    ];
    // Names, labels, runtime ids and binding details are the orchestrator's (or a nested
    // container's) words: each line is escaped so none can move the cursor or add a line.
    process.stdout.write(lines.map(escapeText).join('\n') + '\n');
  },
};
