import { join } from 'node:path';
import type { InstallContext, Installer } from '@contid/oci';
import { hostEntryTargets, installEntryRules, uninstallEntryRules } from './entry-rules';
import { installLxc, uninstallLxc } from './install';

/**
 * How LXC and systemd run contid-lxc: an absolute path (hooks run with LXC's minimal
 * environment) and the registry the installer used, so hooks and wrappers share it.
 */
function contidLxcLine(context: InstallContext): string[] {
  return [join(context.integrations, 'bin', 'contid-lxc'), ...(context.stateDir ? ['--state-dir', context.stateDir] : [])];
}

/** `contid install lxc [NAME...]`: per-container hook lines, or the global snippet and lxc@.service drop-in. */
export const lxcInstaller: Installer = {
  describe: 'LXC hooks (per container: NAME...; else global common.conf.d snippet + lxc@.service drop-in)',
  install: (names, context) => {
    const { report, warnings } = installLxc(names, { contidLxc: contidLxcLine(context), cli: context.cli });
    warnings.forEach((w) => context.warn(w));
    // The audit rules that record entries bypassing contid are host-wide, like the snippet.
    if (names.length) return `${report}\n(host-wide: "contid install lxc" without names also loads the audit rules that record a plain lxc-attach or lxc-start)`;
    return `${report}\n${installEntryRules(hostEntryTargets())}`;
  },
  uninstall: (names) => (names.length ? uninstallLxc(names, {}) : `${uninstallEntryRules()}\n${uninstallLxc(names, {})}`),
};
