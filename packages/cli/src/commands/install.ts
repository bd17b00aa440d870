import type { Argv, CommandModule } from 'yargs';
import { ContidError } from '@contid/core';
import { installers } from './installers';

interface InstallArgs {
  target: string;
  args?: string[];
}

function pick(target: string) {
  const installer = installers[target];
  if (!installer) throw new ContidError(`nothing to install called "${target}"; choose one of: ${Object.keys(installers).join(', ')}`, 2);
  return installer;
}

export const installCommand: CommandModule<object, InstallArgs> = {
  command: 'install <target> [args..]',
  describe: `install an integration: ${Object.keys(installers).join(', ')}`,
  // Installer options (e.g. docker's --default-runtime) reach the installer as words.
  builder: (y) => y.parserConfiguration({ 'unknown-options-as-args': true }) as Argv<InstallArgs>,
  handler: async (argv) => {
    process.stdout.write((await pick(argv.target).install((argv.args ?? []).map(String))) + '\n');
  },
};

export const uninstallCommand: CommandModule<object, InstallArgs> = {
  command: 'uninstall <target> [args..]',
  describe: 'undo contid install',
  builder: (y) => y.parserConfiguration({ 'unknown-options-as-args': true }) as Argv<InstallArgs>,
  handler: async (argv) => {
    process.stdout.write((await pick(argv.target).uninstall((argv.args ?? []).map(String))) + '\n');
  },
};
