import { chmodSync, copyFileSync, existsSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ContidError, makeDirectory } from '@contid/core';
import { type InstallContext, type Installer, adapterInstallers } from '@contid/oci';
import { adapters } from '../adapters';
import { warn } from '../output';
import { auditdPluginInstaller } from './tail';
import { serviceInstaller } from './serve';
import { LAUNCHER_MARKER, LIBEXEC, LXC_FAST, launcherScript } from '../launcher';

const SELF_PATH = '/usr/local/bin/contid';
const SPAWN_LINK = '/usr/local/bin/contid-spawn';

/**
 * What every installer writes into hooks and units: this contid's Node command line, the
 * registry it was asked to use, and its integrations directory (the sh tagging steps, the shim).
 */
export function installContext(): InstallContext {
  const stateDir = process.env.CONTID_STATE_DIR;
  return {
    cli: [process.execPath, resolve(__dirname, '..', 'main.js')],
    ...(stateDir ? { stateDir: resolve(stateDir) } : {}),
    integrations: resolve(__dirname, '../../../../integrations'),
    warn,
  };
}

/** contid-spawn (the tagging step without Node), its library and its LXC and systemd callers, copied root-owned; a link on PATH. */
function installSpawn(binSource: string): string {
  makeDirectory(LIBEXEC, 0o755);
  // contid-lxc-fast (the compiled start, scripts/build-lxc-fast.sh) only where it was built.
  const fast = existsSync(join(binSource, LXC_FAST));
  for (const [file, mode] of [['contid-tag.sh', 0o644], ['contid-spawn', 0o755], ['contid-lxc', 0o755], ['contid-systemd', 0o755], ...(fast ? [[LXC_FAST, 0o755] as const] : [])] as const) {
    copyFileSync(join(binSource, file), `${LIBEXEC}/${file}.tmp`);
    chmodSync(`${LIBEXEC}/${file}.tmp`, mode);
    renameSync(`${LIBEXEC}/${file}.tmp`, `${LIBEXEC}/${file}`);
  }
  if (!fast) rmSync(`${LIBEXEC}/${LXC_FAST}`, { force: true });
  rmSync(SPAWN_LINK, { force: true });
  symlinkSync(`${LIBEXEC}/contid-spawn`, SPAWN_LINK);
  return `installed ${SPAWN_LINK} -> ${LIBEXEC}/contid-spawn`;
}

/** The sh launcher so hooks and units can call `contid` from PATH, and contid-spawn beside it. */
const self: Installer = {
  describe: `put the contid command on PATH (${SELF_PATH}), and contid-spawn (${SPAWN_LINK})`,
  install(_args, context) {
    const [node, main] = context.cli;
    if (/['\s]/.test(node + main)) throw new ContidError(`cannot write ${node} ${main} into the launcher: a quote or a space in the path`);
    const spawned = installSpawn(join(context.integrations, 'bin'));
    writeFileSync(SELF_PATH, launcherScript(node, main, existsSync(`${LIBEXEC}/${LXC_FAST}`)));
    chmodSync(SELF_PATH, 0o755);
    return `installed ${SELF_PATH} -> ${main}\n${spawned}`;
  },
  uninstall() {
    if (!existsSync(SELF_PATH)) return `${SELF_PATH} is not installed`;
    if (!readFileSync(SELF_PATH, 'utf8').includes(LAUNCHER_MARKER)) throw new ContidError(`${SELF_PATH} was not installed by contid; leaving it`);
    unlinkSync(SELF_PATH);
    if (existsSync(SPAWN_LINK) && readlinkOr(SPAWN_LINK) === `${LIBEXEC}/contid-spawn`) unlinkSync(SPAWN_LINK);
    rmSync(`${LIBEXEC}/contid-spawn`, { force: true });
    rmSync(`${LIBEXEC}/contid-lxc`, { force: true });
    rmSync(`${LIBEXEC}/${LXC_FAST}`, { force: true });
    rmSync(`${LIBEXEC}/contid-systemd`, { force: true });
    return `removed ${SELF_PATH} and ${SPAWN_LINK}`;
  },
};

function readlinkOr(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

/**
 * `contid install`'s targets: this host's own (the command, the service, the auditd plugin),
 * then each adapter's installer, found in the one adapter list (nothing registers itself).
 */
export function installers(): Map<string, Installer> {
  const host = new Map<string, Installer>([
    ['self', self],
    ['service', serviceInstaller],
    ['auditd-plugin', auditdPluginInstaller],
  ]);
  for (const [name, installer] of adapterInstallers(adapters())) {
    if (host.has(name)) throw new ContidError(`adapter "${name}" brings an installer named like one of contid's own`);
    host.set(name, installer);
  }
  return host;
}
