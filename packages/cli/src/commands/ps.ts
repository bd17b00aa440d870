import type { CommandModule } from 'yargs';
import { ContainerRecord, ContainerState, Registry, configFromEnv, formatContainerId } from '@contid/core';
import { printJson, printTable } from '../output';

interface PsArgs {
  all: boolean;
  json: boolean;
  orchestrator?: string;
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
  describe: 'list tagged containers (running and untagged; --all adds ended ones)',
  builder: (y) =>
    y
      .option('all', { alias: 'a', type: 'boolean', default: false })
      .option('orchestrator', { type: 'string', describe: 'only this orchestrator' }) as never,
  handler: (argv) => {
    const registry = Registry.open(configFromEnv().stateDir);
    const states: (ContainerState | undefined)[] = argv.all ? [undefined] : ['running', 'untagged'];
    const rows = states.flatMap((state) => registry.list({ state, orchestrator: argv.orchestrator }));
    registry.close();
    if (argv.json) for (const c of rows) printJson(c);
    else printTable(CONTAINER_HEADERS, rows.map(containerRow));
  },
};
