import type { CommandModule } from 'yargs';
import { ContidError, Registry, configFromEnv, escapeText, formatContainerId } from '@contid/core';
import { printJson } from '../output';

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
    if (argv.json) return printJson({ ...c, bindings, children });
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
      ...bindings.map(
        (b) => `  ${new Date(b.at).toISOString()}  ${b.op.padEnd(8)} pid ${b.pid}  session ${b.session ?? '-'}  ${JSON.stringify(b.detail)}`,
      ),
    ];
    // Names, labels, runtime ids and binding details are the orchestrator's (or a nested
    // container's) words: each line is escaped so none can move the cursor or add a line.
    process.stdout.write(lines.map(escapeText).join('\n') + '\n');
  },
};
