import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs' CommandModule is generic over each command's own args
type AnyCommand = CommandModule<any, any>;

/**
 * Each top-level command and how to load it. A run loads only the module of the command it
 * names (each pulls in its own packages: the Docker, Kubernetes and gRPC clients, koffi and
 * libauparse), so `contid search` does not pay for `contid agent`'s, and `contid tail` as
 * auditd's plugin carries only its own for the host's lifetime.
 */
export const COMMAND_LOADERS: Readonly<Record<string, () => AnyCommand[]>> = {
  exec: () => [(require('./exec') as typeof import('./exec')).execCommand],
  end: () => [(require('./end') as typeof import('./end')).endCommand],
  ps: () => [(require('./ps') as typeof import('./ps')).psCommand],
  show: () => [(require('./show') as typeof import('./show')).showCommand],
  doctor: () => [(require('./doctor') as typeof import('./doctor')).doctorCommand],
  install: () => [(require('./install') as typeof import('./install')).installCommand],
  uninstall: () => [(require('./install') as typeof import('./install')).uninstallCommand],
  lxc: () => [(require('./lxc') as typeof import('./lxc')).lxcCommand],
  agent: () => [(require('./agent') as typeof import('./agent')).agentCommand],
  serve: () => [(require('./serve') as typeof import('./serve')).serveCommand],
  tail: () => [(require('./tail') as typeof import('./tail')).tailCommand],
  search: () => [(require('./search') as typeof import('./search')).searchCommand],
  index: () => [(require('./index-cmd') as typeof import('./index-cmd')).indexCommand],
  report: () => [(require('./report') as typeof import('./report')).reportCommand],
  systemd: () => [(require('./systemd') as typeof import('./systemd')).systemdCommand],
  docker: () => [(require('./docker') as typeof import('./docker')).dockerCommand],
  keys: () => [(require('./keys') as typeof import('./keys')).keysCommand],
};

/** Global options that take a value (main.ts defines them): their value is not the command. */
const VALUED_GLOBALS = new Set(['--state-dir', '--write-path']);

/**
 * The commands a run needs: only the one `args` names, or every command when it names none
 * or an unknown one (for --help's list and yargs' "did you mean").
 */
export function commandsFor(args: readonly string[]): AnyCommand[] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') break;
    if (VALUED_GLOBALS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    const load = Object.prototype.hasOwnProperty.call(COMMAND_LOADERS, a) ? COMMAND_LOADERS[a] : undefined;
    if (load) return load();
    break;
  }
  return Object.values(COMMAND_LOADERS).flatMap((load) => load());
}
