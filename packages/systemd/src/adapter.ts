import type { Adapter } from '@contid/oci';
import { systemdInstaller } from './installer';
import { bindSpooledLine, recordSpooledMainPid } from './spooled';

/**
 * systemd units through contid-systemd (every Exec line, no Node): each spooled line bound by
 * create-or-join on its invocation, the main pid recorded as the container's init, units
 * enabled for contid's generator.
 */
export const systemdAdapter: Adapter = { name: 'systemd', bindSpawned: bindSpooledLine, recordInit: recordSpooledMainPid, installer: systemdInstaller };
