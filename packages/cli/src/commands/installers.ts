import { chmodSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ContidError } from '@contid/core';
import { lxcInstaller } from './lxc';
import { systemdInstaller } from './systemd';
import { auditdPluginInstaller } from './tail';
import { serviceInstaller } from './serve';
import { dockerInstaller } from './docker';

/** Something `contid install X` puts on the host and `contid uninstall X` takes away. */
export interface Installer {
  describe: string;
  install(args: string[]): string | Promise<string>;
  uninstall(args: string[]): string | Promise<string>;
}

const SELF_PATH = '/usr/local/bin/contid';
const MARKER = '# installed by contid install self';

/** A two-line sh launcher so hooks and units can call `contid` from PATH. */
const self: Installer = {
  describe: `put the contid command on PATH (${SELF_PATH})`,
  install() {
    const main = resolve(__dirname, '..', 'main.js');
    writeFileSync(SELF_PATH, `#!/bin/sh\n${MARKER}\nexec ${process.execPath} ${main} "$@"\n`);
    chmodSync(SELF_PATH, 0o755);
    return `installed ${SELF_PATH} -> ${main}`;
  },
  uninstall() {
    if (!existsSync(SELF_PATH)) return `${SELF_PATH} is not installed`;
    if (!readFileSync(SELF_PATH, 'utf8').includes(MARKER)) throw new ContidError(`${SELF_PATH} was not installed by contid; leaving it`);
    unlinkSync(SELF_PATH);
    return `removed ${SELF_PATH}`;
  },
};

/** Adapters add their installers here. */
export const installers: Record<string, Installer> = { self, lxc: lxcInstaller, 'auditd-plugin': auditdPluginInstaller, systemd: systemdInstaller, service: serviceInstaller, docker: dockerInstaller };
