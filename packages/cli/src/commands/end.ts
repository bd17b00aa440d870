import type { CommandModule } from 'yargs';
import { ContidError, Tagger } from '@contid/core';

export const endCommand: CommandModule<object, { container: string; reason?: string }> = {
  command: 'end <container>',
  describe: 'record that a container has ended (audit record + registry)',
  builder: (y) => y.positional('container', { type: 'string', demandOption: true }).option('reason', { type: 'string' }),
  handler: (argv) => {
    const tagger = Tagger.open();
    const c = tagger.containers.find(argv.container);
    if (!c) throw new ContidError(`unknown container "${argv.container}"`);
    tagger.end(c.contid, argv.reason);
    tagger.close();
  },
};
