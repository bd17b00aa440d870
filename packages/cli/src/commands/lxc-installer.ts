import { resolve } from 'node:path';
import { CONTID_LXC, hostEntryTargets, installEntryRules, installLxc, uninstallEntryRules, uninstallLxc } from '@contid/lxc';
import type { Installer } from '@contid/oci';
import { warn } from '../output';

/**
 * How LXC and systemd run contid-lxc: an absolute path (hooks run with LXC's minimal
 * environment) and the registry the installer used, so hooks and wrappers share it.
 */
function contidLxcLine(): string[] {
  const stateDir = process.env.CONTID_STATE_DIR;
  return [CONTID_LXC, ...(stateDir ? ['--state-dir', resolve(stateDir)] : [])];
}

/** `contid install lxc [NAME...]`: per-container hook lines, or the global snippet and lxc@.service drop-in. */
export const lxcInstaller: Installer = {
  describe: 'LXC hooks (per container: NAME...; else global common.conf.d snippet + lxc@.service drop-in)',
  install: (names) => {
    const { report, warnings } = installLxc(names, { contidLxc: contidLxcLine(), cli: [process.execPath, resolve(__dirname, '..', 'main.js')] });
    warnings.forEach(warn);
    // The audit rules that record entries bypassing contid are host-wide, like the snippet.
    if (names.length) return `${report}\n(host-wide: "contid install lxc" without names also loads the audit rules that record a plain lxc-attach or lxc-start)`;
    return `${report}\n${installEntryRules(hostEntryTargets())}`;
  },
  uninstall: (names) => (names.length ? uninstallLxc(names, {}) : `${uninstallEntryRules()}\n${uninstallLxc(names, {})}`),
};
