import type { Argv, CommandModule } from 'yargs';
import { ContidError, PrivilegeError } from '@contid/core';
import { installContext, installers } from './installers';
import { VERBATIM_ARGS } from './verbatim-args';

interface InstallArgs {
  target: string;
  args?: string[];
}

function pick(target: string) {
  const all = installers();
  const installer = all.get(target);
  if (!installer) throw new ContidError(`nothing to install called "${target}"; choose one of: ${[...all.keys()].join(', ')}`, 2);
  return installer;
}

/** An installer refused a system file (EACCES, EPERM): one line saying root is needed. */
async function asRoot<T>(what: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const { code, path } = e as NodeJS.ErrnoException;
    if (code === 'EACCES' || code === 'EPERM') throw new PrivilegeError(`${what} needs root: ${path ?? 'a system file'} is not writable by uid ${process.geteuid?.()}`);
    throw e;
  }
}

export const installCommand: CommandModule<object, InstallArgs> = {
  command: 'install <target> [args..]',
  describe: 'install an integration: self, service, auditd-plugin, or an orchestrator (docker, lxc, systemd …; `contid install x` lists them)',
  // Installer options (e.g. docker's --default-runtime) reach the installer as words (a variadic positional: repeated-options.ts).
  builder: (y) => y.parserConfiguration({ ...VERBATIM_ARGS, 'unknown-options-as-args': true }) as Argv<InstallArgs>,
  handler: async (argv) => {
    process.stdout.write((await asRoot(`contid install ${argv.target}`, () => pick(argv.target).install((argv.args ?? []).map(String), installContext()))) + '\n');
  },
};

export const uninstallCommand: CommandModule<object, InstallArgs> = {
  command: 'uninstall <target> [args..]',
  describe: 'undo contid install',
  builder: (y) => y.parserConfiguration({ ...VERBATIM_ARGS, 'unknown-options-as-args': true }) as Argv<InstallArgs>,
  handler: async (argv) => {
    process.stdout.write((await asRoot(`contid uninstall ${argv.target}`, () => pick(argv.target).uninstall((argv.args ?? []).map(String), installContext()))) + '\n');
  },
};
