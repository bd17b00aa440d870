import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type HealthResult, configFromEnv } from '@contid/core';
import { type Adapter, type InstallContext, adapterHealth, adapterInstallers, consumerHooks } from '@contid/oci';
import { adapters } from '../src/adapters';
import { installContext, installers } from '../src/commands/installers';

const ADAPTERS_TS = resolve(__dirname, '../src/adapters.ts');

/** The adapter contract as the CLI and `contid serve` use it: one list, each entry one package's complete Adapter. */
describe('adapters(): one complete Adapter per orchestrator package', () => {
  it('names each orchestrator once, in identifier order', () => {
    expect(adapters().map((a) => a.name)).toEqual(['docker', 'podman', 'kubernetes', 'lxc', 'systemd']);
  });

  it('adapters.ts imports only package entry points, one adapter each, and lists nothing assembled by hand', () => {
    const source = readFileSync(ADAPTERS_TS, 'utf8');
    const imports = [...source.matchAll(/^import (type )?\{ ([^}]+) \} from '([^']+)';$/gm)];
    expect(imports.every(([, , , from]) => /^@contid\/[a-z]+$/.test(from!))).toBe(true);
    const values = imports.filter(([, type]) => !type).map(([, , names]) => names!.trim());
    expect(values.every((n) => /^[a-z]+Adapter$/.test(n))).toBe(true);
    expect(values).toHaveLength(adapters().length);
    // No spread, no object literal: an adapter's members come from its own package.
    const list = /return \[([^\]]*)\];/.exec(source)?.[1] ?? '';
    expect(list).not.toMatch(/[{}]|\.\.\./);
  });

  it('docker, lxc and systemd bring their installers; contid install lists them after the host targets', () => {
    expect([...adapterInstallers(adapters()).keys()]).toEqual(['docker', 'lxc', 'systemd']);
    expect([...installers().keys()]).toEqual(['self', 'service', 'auditd-plugin', 'docker', 'lxc', 'systemd']);
  });

  it('the install context names this contid and the integrations every installer writes into hooks and units', () => {
    const context = installContext();
    expect(context.cli[0]).toBe(process.execPath);
    expect(context.cli[1]).toMatch(/\/packages\/cli\/src\/main\.js$/);
    for (const file of ['bin/contid-lxc', 'bin/contid-systemd', 'bin/contid-spawn', 'docker/contid-runc']) expect(existsSync(join(context.integrations, file))).toBe(true);
  });

  it('a new adapter is one object: the loops find its installer, health checks and hooks with no other registration', () => {
    const calls: string[] = [];
    const incus: Adapter = {
      name: 'incus',
      identify: () => null,
      health: (): HealthResult[] => [{ check: 'incus', status: 'ok', detail: 'reachable' }],
      installer: {
        describe: 'Incus hooks',
        install: (args: string[], context: InstallContext) => (calls.push(`install ${args.join(' ')} via ${context.integrations}`), 'installed'),
        uninstall: () => 'removed',
      },
    };
    const list = [...adapters(), incus];
    const context: InstallContext = { cli: ['/usr/bin/node', '/opt/contid/main.js'], integrations: '/opt/contid/integrations', warn: (w) => calls.push(w) };
    expect(adapterInstallers(list).get('incus')?.install(['c1'], context)).toBe('installed');
    expect(calls).toEqual(['install c1 via /opt/contid/integrations']);
    expect(adapterHealth([incus], configFromEnv())).toEqual([{ check: 'incus', status: 'ok', detail: 'reachable' }]);
    expect(consumerHooks(list).identifiers).toHaveLength(consumerHooks(adapters()).identifiers.length + 1);
  });

  it('two adapters of one name cannot both install', () => {
    const twice = adapters().filter((a) => a.name === 'lxc');
    expect(() => adapterInstallers([...twice, ...twice])).toThrow('two adapters named "lxc" bring an installer');
  });
});
