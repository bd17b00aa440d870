import type { CommandModule } from 'yargs';
import { ContidError } from '@contid/core';
import { dockerAgent } from './docker';
import { kubernetesAgent } from './kubernetes';

/** `contid agent <orchestrator>`: the long-running per-node agents, one spelling for all. */
export const agentCommand: CommandModule<object, object> = {
  command: 'agent <orchestrator>',
  describe: 'long-running per-node agents (docker, kubernetes)',
  builder: (y) =>
    y
      .command(dockerAgent as unknown as CommandModule<object, object>)
      .command(kubernetesAgent as unknown as CommandModule<object, object>)
      .demandCommand(1),
  handler: () => {
    throw new ContidError('name an agent: docker or kubernetes', 2);
  },
};
