import type { Adapter } from '@contid/oci';
import { lxcHealth } from './health';
import { lxcInstaller } from './installer';
import { recordSpooledInit } from './spooled-hook';

/**
 * LXC through contid-lxc (start, attach and the start-host hook, no Node): the hook's init
 * entries bound as the container's init, its checks for `contid doctor`, its hooks installed.
 */
export const lxcAdapter: Adapter = { name: 'lxc', health: lxcHealth, recordInit: recordSpooledInit, installer: lxcInstaller };
