import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ContidError } from '@contid/core';
import type { Installer } from '@contid/oci';
import { dockerClient, socketOfHost } from './client';
import { DAEMON_JSON, SHIM_INSTALL_PATH, addRuntime } from './daemon-json';
import { installDaemonJson, installShim, removeShim, restoreDaemonJson } from './docker-install';
import { type RuntimeUser, containersUsingRuntime } from './runtime-users';

interface InstallOptions {
  file: string;
  makeDefault: boolean;
  shim: string;
  force: boolean;
  host?: string;
}

function installArgs(args: string[], verb: 'install' | 'uninstall'): InstallOptions {
  const o: InstallOptions = { file: DAEMON_JSON, shim: SHIM_INSTALL_PATH, makeDefault: false, force: false };
  const usage = verb === 'install' ? '--default-runtime, --daemon-json FILE, --shim-path FILE' : '--force, --host unix://PATH, --daemon-json FILE, --shim-path FILE';
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new ContidError(`contid ${verb} docker: ${a} needs a value`, 2);
      return v;
    };
    if (a === '--default-runtime' && verb === 'install') o.makeDefault = true;
    else if (a === '--force' && verb === 'uninstall') o.force = true;
    else if (a === '--host' && verb === 'uninstall') o.host = value();
    else if (a === '--daemon-json') o.file = value();
    else if (a === '--shim-path') o.shim = value();
    else throw new ContidError(`contid ${verb} docker: unknown argument "${a}" (use ${usage})`, 2);
  }
  return o;
}

const NEXT_RESTART = 'next: restart dockerd (systemctl restart docker)';

/** `contid install docker [--default-runtime] [--daemon-json FILE] [--shim-path FILE]`. */
export const dockerInstaller: Installer = {
  describe: 'the contid-runc runtime shim and its daemon.json entry ([--default-runtime] [--daemon-json FILE] [--shim-path FILE]; uninstall: [--force] [--host unix://PATH])',
  install(args, context) {
    const { file, makeDefault, shim } = installArgs(args, 'install');
    const source = join(context.integrations, 'docker', 'contid-runc');
    if (!existsSync(source)) throw new ContidError(`shim not found at ${source}`);
    // The compiled shim, where scripts/build-shim.sh built it (setup-host.sh does): dockerd runs it.
    const compiled = join(context.integrations, 'docker', 'contid-runc-fast');
    addRuntime(existsSync(file) ? readFileSync(file, 'utf8') : '', shim, { makeDefault, file }); // refuse a bad file before touching anything
    const runtime = installShim(source, shim, compiled);
    const { change, backup } = installDaemonJson(file, runtime, makeDefault);
    return [
      runtime === shim ? `installed ${shim} (no compiled shim was built: scripts/build-shim.sh)` : `installed ${shim} and the compiled ${runtime}, which dockerd runs`,
      change.changed ? `${file}: runtime "contid"${makeDefault ? ' (default)' : ''} added${backup ? `; the original is kept in ${backup}` : ''}` : `${file} already up to date`,
      `${NEXT_RESTART}, run \`contid docker agent\` (or \`contid docker sync\` after starts), then docker run --runtime contid …`,
    ].join('\n');
  },
  /**
   * Containers on the contid runtime need its shim for every later runc call (exec, kill,
   * delete) and its daemon.json entry to start again: while any exist, uninstall refuses and
   * names them; with --force it takes the runtime out of daemon.json but keeps the shim.
   */
  async uninstall(args) {
    const { file, shim, force, host } = installArgs(args, 'uninstall');
    let users: RuntimeUser[] | null;
    try {
      users = await containersUsingRuntime(dockerClient(socketOfHost(host)));
    } catch (e) {
      if (!force) throw new ContidError(`cannot ask dockerd which containers use the contid runtime (${(e as Error).message}); start it, name it with --host, or pass --force`);
      users = null;
    }
    if (users && users.length > 0 && !force) {
      const list = users.map((u) => `${u.name} (${u.id.slice(0, 12)}, ${u.running ? 'running' : 'stopped'})`).join(', ');
      throw new ContidError(`${users.length} container(s) use the contid runtime: ${list}; remove them first (docker rm -f), or pass --force to keep the shim for them`);
    }
    const lines: string[] = [];
    const restored = restoreDaemonJson(file);
    if (restored.action === 'absent') lines.push(`${file} does not exist`);
    else if (restored.action === 'unchanged') lines.push(`${file} has no contid runtime`);
    else if (restored.action === 'restored') lines.push(`${file}: restored as it was before contid (from ${restored.from})`);
    else if (restored.action === 'removed') lines.push(`${file}: removed (contid had created it)`);
    else lines.push(`${file}: runtime "contid" removed; the file was edited since install, so other changes are kept${restored.backup ? ` (the original stays in ${restored.backup})` : ''}`);
    if (users === null || users.length > 0) {
      const why = users === null ? 'dockerd could not be asked which containers still use it' : `${users.length} container(s) still use it: ${users.map((u) => u.name).join(', ')}`;
      lines.push(`kept ${shim}: ${why}; run \`contid uninstall docker\` again once they are gone`);
      lines.push(`${NEXT_RESTART}; until then new containers can still choose --runtime contid, and after it those containers cannot be started again`);
    } else {
      lines.push(removeShim(shim) ? `removed ${shim}` : `${shim} is not installed`);
      lines.push(NEXT_RESTART);
    }
    return lines.join('\n');
  },
};
