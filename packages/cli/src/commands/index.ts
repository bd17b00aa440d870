import type { CommandModule } from 'yargs';
import { execCommand } from './exec';
import { psCommand } from './ps';
import { showCommand } from './show';
import { doctorCommand } from './doctor';
import { installCommand, uninstallCommand } from './install';
import { endCommand } from './end';
import { lxcCommand } from './lxc';
import { agentCommand } from './agent';
import { serveCommand } from './serve';
import { systemdCommand } from './systemd';
import { tailCommand } from './tail';
import { searchCommand } from './search';
import { indexCommand } from './index-cmd';
import { reportCommand } from './report';
import { dockerCommand } from './docker';
import { keysCommand } from './keys';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- yargs' CommandModule is generic over each command's own args
export const commands: CommandModule<any, any>[] = [
  execCommand,
  endCommand,
  psCommand,
  showCommand,
  doctorCommand,
  installCommand,
  uninstallCommand,
  lxcCommand,
  agentCommand,
  serveCommand,
  tailCommand,
  searchCommand,
  indexCommand,
  reportCommand,
  systemdCommand,
  dockerCommand,
  keysCommand,
];
