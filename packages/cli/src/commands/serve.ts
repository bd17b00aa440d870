import type { CommandModule } from 'yargs';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Installer } from '@contid/oci';
import { ContidError, Tagger, makeDirectory, parseContainerId } from '@contid/core';
import { ContidService, DEFAULT_SOCKET_PATH, SOCKET_ENV } from '@contid/service';
import { Spool, SpoolDrainer, consumerHooks, spoolDirFromEnv } from '@contid/oci';
import { adapters } from '../adapters';

interface ServeArgs {
  socket?: string;
  nested?: string[];
  path?: string[];
  'fail-policy'?: 'open' | 'closed';
  spool?: string;
  drain: boolean;
}

const log = (line: string): void => void process.stderr.write(`contid serve: ${line}\n`);

/**
 * `contid serve`: the privileged service. It owns the registry and the audit socket; hooks,
 * shims and nested orchestrators ask it over root-only unix sockets. Runs until SIGTERM.
 */
export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve',
  describe: 'run the privileged tagging service on a root-only unix socket (and per-container nested channels)',
  builder: (y) =>
    y
      .option('socket', { type: 'string', describe: `host channel socket (default ${DEFAULT_SOCKET_PATH}, or $${SOCKET_ENV})` })
      .option('nested', { type: 'string', array: true, describe: 'open a nested channel for this container (pair each with --path)' })
      .option('path', { type: 'string', array: true, describe: 'directory for the nested channel socket, to bind-mount into that container only' })
      .option('fail-policy', { choices: ['open', 'closed'] as const, describe: 'when audit is unavailable: tag anyway (open) or refuse (closed)' })
      .option('spool', { type: 'string', describe: 'the spool contid-runc and contid-spawn write (default $CONTID_SPOOL_DIR or $CONTID_STATE_DIR/spool)' })
      .option('drain', { type: 'boolean', default: true, describe: 'bind the spool’s entries as they arrive (--no-drain: leave them to another agent)' })
      .example('$0 serve', 'serve the host channel on /run/contid/contid.sock')
      .example('$0 serve --nested 1234 --path /run/contid/nested/1234', 'also serve a channel for container 1234'),
  handler: async (argv) => {
    const nested = argv.nested ?? [];
    const paths = argv.path ?? [];
    if (nested.length !== paths.length) throw new ContidError('each --nested CONTID needs its own --path DIR', 2);
    const tagger = Tagger.open({ failPolicy: argv['fail-policy'] });
    const service = new ContidService(tagger);
    // Nested channels first: once the host channel answers, every remembered channel does too
    // (a client that waits for the host socket must not find a container's channel missing).
    await service.restoreChannels();
    await service.listen(argv.socket || process.env[SOCKET_ENV] || DEFAULT_SOCKET_PATH, { kind: 'host' });
    for (let i = 0; i < nested.length; i++) await service.openNested(parseContainerId(nested[i]), paths[i]);
    // The long-running side of the tagging step: entries written while serve was down are bound first, in order.
    const list = adapters();
    const spool = new Spool(argv.spool ?? spoolDirFromEnv());
    const drainer = argv.drain ? new SpoolDrainer({ tagger, spool, ...consumerHooks(list), log }) : null;
    await drainer?.start();
    if (drainer) log(`draining ${drainer.dir}`);
    // After the entries that waited: what an adapter follows starts from the registry they completed.
    const running = list.flatMap((a) => (a.serve ? [a.serve({ tagger, spool, log })] : []));
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve);
      process.once('SIGINT', resolve);
    });
    for (const r of running) r.stop();
    await drainer?.stop();
    await service.close();
  },
};

const UNIT_TEMPLATE = resolve(__dirname, '../../../../integrations/service/contid.service');
const UNIT_MARKER = '# installed by contid install service';

/** The unit to write: the shipped one, with ExecStart= pointing at this very contid. */
function renderServiceUnit(): string {
  const command = [process.execPath, resolve(__dirname, '..', 'main.js'), 'serve', '--socket', DEFAULT_SOCKET_PATH].join(' ');
  const template = readFileSync(UNIT_TEMPLATE, 'utf8');
  if (!/^ExecStart=.*$/m.test(template)) throw new ContidError(`${UNIT_TEMPLATE} has no ExecStart= line`);
  return `${UNIT_MARKER}\n${template.replace(/^ExecStart=.*$/m, `ExecStart=${command}`)}`;
}

function unitPath(args: string[]): string {
  if (args.length > 1) throw new ContidError('usage: contid install service [UNIT_DIR] (default /etc/systemd/system)', 2);
  return join(args[0] ?? '/etc/systemd/system', 'contid.service');
}

function assertOurUnit(path: string): void {
  if (existsSync(path) && !readFileSync(path, 'utf8').startsWith(UNIT_MARKER)) {
    throw new ContidError(`${path} was not written by contid install service; leaving it`);
  }
}

/** `contid install service [DIR]`: the systemd unit for `contid serve`; idempotent. */
export const serviceInstaller: Installer = {
  describe: 'systemd unit for contid serve (/etc/systemd/system/contid.service)',
  install(args) {
    const path = unitPath(args);
    assertOurUnit(path);
    const text = renderServiceUnit();
    if (existsSync(path) && readFileSync(path, 'utf8') === text) return `${path} is up to date`;
    makeDirectory(dirname(path));
    writeFileSync(path, text, { mode: 0o644 });
    return `wrote ${path}; run systemctl daemon-reload && systemctl enable --now contid`;
  },
  uninstall(args) {
    const path = unitPath(args);
    if (!existsSync(path)) return `${path} is not installed`;
    assertOurUnit(path);
    unlinkSync(path);
    return `removed ${path}; run systemctl daemon-reload`;
  },
};
