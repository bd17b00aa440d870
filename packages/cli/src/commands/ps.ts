import type { CommandModule } from 'yargs';
import { ContainerRecord, ContainerState, PrivilegeError, Registry, Tagger, configFromEnv, escapeText, formatContainerId } from '@contid/core';
import { unknownRunningContainers } from '@contid/lxc';
import { printJson, printTable } from '../output';
import { labelsOf } from './event-filter-args';
import { reconcile } from './reconcile';

interface PsArgs {
  all: boolean;
  json: boolean;
  orchestrator?: string;
  label?: string[];
  project?: string;
}

export function containerRow(c: ContainerRecord): string[] {
  return [
    formatContainerId(c.contid),
    c.session === null ? '-' : String(c.session),
    c.orchestrator,
    c.name,
    c.state + (c.auditError ? '!' : ''),
    c.initPid === null ? '-' : String(c.initPid),
    new Date(c.createdAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    c.parent === null ? '-' : formatContainerId(c.parent),
  ];
}

export const CONTAINER_HEADERS = ['CONTID', 'SESSION', 'ORCHESTRATOR', 'NAME', 'STATE', 'PID', 'CREATED', 'PARENT'];

export const psCommand: CommandModule<{ json: boolean }, PsArgs> = {
  command: 'ps',
  describe: 'list live containers (running and untagged; gone ones are ended first, op=end reason="found gone"); --all adds ended ones',
  builder: (y) =>
    y
      .option('all', { alias: 'a', type: 'boolean', default: false })
      .option('orchestrator', { type: 'string', describe: 'only this orchestrator' })
      .option('label', { type: 'string', array: true, describe: 'KEY=VALUE: only containers with this label (repeatable)' })
      .option('project', { type: 'string', describe: 'a compose project: --label com.docker.compose.project=NAME' }) as never,
  handler: (argv) => {
    reconcileIfPrivileged();
    const registry = Registry.open(configFromEnv().stateDir);
    const states: (ContainerState | undefined)[] = argv.all ? [undefined] : ['running', 'untagged'];
    const labels = Object.entries(labelsOf(argv) ?? {});
    const rows = states
      .flatMap((state) => registry.list({ state, orchestrator: argv.orchestrator }))
      .filter((c) => labels.every(([k, v]) => c.labels[k] === v));
    // no row can list what contid never saw start: said on stderr, so the table stays the registry's
    const unknown = !argv.orchestrator || argv.orchestrator === 'lxc' ? unknownRunningContainers(registry) : [];
    registry.close();
    for (const name of unknown) process.stderr.write(`contid: ${escapeText(`LXC container ${name} runs unknown to contid (started without it: its records are not attributed; contid doctor, contid search --untagged)`)}\n`);
    if (argv.json) for (const c of rows) printJson(c);
    else printTable(CONTAINER_HEADERS, rows.map(containerRow));
  },
};

/**
 * A row stays "running" until someone notices its processes are gone: with the privilege to
 * write the audit record, ps ends those first, so what it lists is alive.
 */
function reconcileIfPrivileged(): void {
  let tagger: Tagger;
  try {
    tagger = Tagger.open();
  } catch (e) {
    if (e instanceof PrivilegeError) return;
    throw e;
  }
  try {
    reconcile(tagger);
  } finally {
    tagger.close();
  }
}
