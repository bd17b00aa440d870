import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { WITHOUT_EXTRA_CA_CERTS, launcherScript } from '../src/launcher';

/*
 * The launcher `contid install self` writes leaves NODE_EXTRA_CA_CERTS out of the environment
 * of exactly the commands of WITHOUT_EXTRA_CA_CERTS, and those commands can make no TLS
 * connection. No root: the launcher's text is run by sh with stand-ins for node and the LXC tools.
 */
describe('the launcher and NODE_EXTRA_CA_CERTS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-launcher-'));
  const libexec = join(dir, 'libexec');
  const script = (path: string, name: string): void => {
    // each stand-in prints who it is, the variable (or -) and its arguments
    writeFileSync(path, `#!/bin/sh\nprintf '%s|%s|%s\\n' ${name} "\${NODE_EXTRA_CA_CERTS--}" "$*"\n`);
    chmodSync(path, 0o755);
  };
  mkdirSync(libexec);
  script(join(dir, 'node'), 'node');
  script(join(libexec, 'contid-lxc'), 'contid-lxc');
  script(join(libexec, 'contid-lxc-fast'), 'contid-lxc-fast');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What the launcher (written as the installer writes it) started for `args`: the program, the variable, its arguments. */
  function launch(args: string[], fast = true): string {
    const launcher = join(dir, 'contid');
    writeFileSync(launcher, launcherScript(join(dir, 'node'), '/opt/contid/main.js', fast, libexec));
    chmodSync(launcher, 0o755);
    const r = spawnSync(launcher, args, { env: { PATH: '/usr/bin:/bin', NODE_EXTRA_CA_CERTS: '/etc/ca.pem' }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return r.stdout.trim();
  }

  it.each([
    [['search', '--container', 'web', '-if', '/var/log/audit/audit.log'], 'node|-|/opt/contid/main.js search --container web -if /var/log/audit/audit.log'],
    [['report', '--container', 'web'], 'node|-|/opt/contid/main.js report --container web'],
    [['index'], 'node|-|/opt/contid/main.js index'],
    [['index', '-i', 'a b'], 'node|-|/opt/contid/main.js index -i a b'],
    // every other command keeps it: the agents and docker talk to API servers, exec hands the environment to the user's program
    [['agent', 'kubernetes', '--kubeconfig', '/k'], 'node|/etc/ca.pem|/opt/contid/main.js agent kubernetes --kubeconfig /k'],
    [['agent', 'docker'], 'node|/etc/ca.pem|/opt/contid/main.js agent docker'],
    [['docker', 'front'], 'node|/etc/ca.pem|/opt/contid/main.js docker front'],
    [['exec', '--name', 'web', '--', 'search'], 'node|/etc/ca.pem|/opt/contid/main.js exec --name web -- search'],
    [['tail'], 'node|/etc/ca.pem|/opt/contid/main.js tail'],
    [['serve'], 'node|/etc/ca.pem|/opt/contid/main.js serve'],
    [['doctor'], 'node|/etc/ca.pem|/opt/contid/main.js doctor'],
    [['keys', 'show'], 'node|/etc/ca.pem|/opt/contid/main.js keys show'],
    [['--version'], 'node|/etc/ca.pem|/opt/contid/main.js --version'],
    [[], 'node|/etc/ca.pem|/opt/contid/main.js'],
    // only the first word decides: a global option first keeps the variable
    [['--state-dir', '/s', 'search'], 'node|/etc/ca.pem|/opt/contid/main.js --state-dir /s search'],
    [['searchx'], 'node|/etc/ca.pem|/opt/contid/main.js searchx'],
    [['search*'], 'node|/etc/ca.pem|/opt/contid/main.js search*'],
    [['lxc', 'start', 'web'], 'contid-lxc-fast|/etc/ca.pem|start web'],
    [['lxc', 'attach', 'web'], 'contid-lxc|/etc/ca.pem|attach web'],
    [['lxc', 'ls'], 'node|/etc/ca.pem|/opt/contid/main.js lxc ls'],
  ])('contid %j', (args, started) => {
    expect(launch(args)).toBe(started);
  });

  it('without the compiled LXC start, lxc start goes to the sh (and keeps the variable)', () => {
    expect(launch(['lxc', 'start', 'web'], false)).toBe('contid-lxc|/etc/ca.pem|start web');
  });

  it('leaves the rest of the environment as it is, and the variable unset stays unset', () => {
    const launcher = join(dir, 'contid-env');
    const printEnv = join(dir, 'print-env');
    writeFileSync(printEnv, '#!/bin/sh\nexec /usr/bin/env\n');
    chmodSync(printEnv, 0o755);
    writeFileSync(launcher, launcherScript(printEnv, '/opt/contid/main.js', true, libexec));
    chmodSync(launcher, 0o755);
    const env = { PATH: '/usr/bin:/bin', NODE_EXTRA_CA_CERTS: '/etc/ca.pem', CONTID_STATE_DIR: '/s', LANG: 'C.UTF-8' };
    const lines = (args: string[], e: NodeJS.ProcessEnv) => spawnSync(launcher, args, { env: e, encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '' && !l.startsWith('PWD=')).sort();
    expect(lines(['search'], env)).toEqual(['CONTID_STATE_DIR=/s', 'LANG=C.UTF-8', 'PATH=/usr/bin:/bin']);
    expect(lines(['exec'], env)).toEqual(['CONTID_STATE_DIR=/s', 'LANG=C.UTF-8', 'NODE_EXTRA_CA_CERTS=/etc/ca.pem', 'PATH=/usr/bin:/bin']);
    expect(lines(['exec'], { PATH: '/usr/bin:/bin' })).toEqual(['PATH=/usr/bin:/bin']);
  });
});

describe('the commands started without NODE_EXTRA_CA_CERTS can make no TLS connection', () => {
  const PACKAGES = resolve(__dirname, '../..');
  const COMMANDS = join(PACKAGES, 'cli', 'src', 'commands');

  /** What an import names: a source file of this repository, or the module's name (node: and npm). */
  function resolveImport(from: string, spec: string): { file: string } | { module: string } {
    const pkg = /^@contid\/([a-z-]+)(?:\/dist\/([a-z/-]+))?$/.exec(spec);
    let base: string;
    if (pkg) base = join(PACKAGES, pkg[1], 'src', pkg[2] ?? 'index');
    else if (spec.startsWith('.')) base = resolve(dirname(from), spec);
    else return { module: spec.startsWith('node:') ? spec : spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/') };
    for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return { file: candidate };
    throw new Error(`${relative(PACKAGES, from)}: cannot resolve "${spec}"`);
  }

  /**
   * Every source file a module can load, and every outside module among them: static imports,
   * type-only ones too (more than runs, never less) and require() of literal paths (commands
   * and formatters are required where used), through the packages' entry points whole.
   */
  function closure(entry: string): { files: Set<string>; modules: Map<string, string> } {
    const files = new Set<string>();
    const modules = new Map<string, string>(); // module -> the first file importing it
    const stack = [entry];
    while (stack.length > 0) {
      const file = stack.pop()!;
      if (files.has(file)) continue;
      files.add(file);
      for (const imported of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
        const r = resolveImport(file, imported.fileName);
        if ('file' in r) stack.push(r.file);
        else if (!modules.has(r.module)) modules.set(r.module, relative(PACKAGES, file));
      }
    }
    return { files, modules };
  }

  /** The module of each command, as COMMAND_LOADERS requires it. */
  function commandModule(command: string): string {
    const loaders = readFileSync(join(COMMANDS, 'index.ts'), 'utf8');
    const m = new RegExp(`^\\s*${command}: \\(\\) => \\[\\(require\\('\\./([a-z-]+)'\\)`, 'm').exec(loaders);
    if (!m) throw new Error(`no loader for ${command} in commands/index.ts`);
    return join(COMMANDS, `${m[1]}.ts`);
  }

  // the TLS clients Node has; http is refused too (an agent or proxy module on top of it)
  const NETWORK = ['node:tls', 'node:https', 'node:http2', 'node:http', 'tls', 'https', 'http2', 'http'];
  // the outside packages these may load: the native SQLite and FFI modules, and yargs (the option table)
  const PACKAGES_ALLOWED = new Set(['better-sqlite3', 'koffi', 'yargs']);
  // where they start programs: auditctl, lxc-config, lxc-info, systemctl and auditd (contid itself again through process-replace, by execve)
  const STARTS_PROGRAMS = new Set(['core/src/health.ts', 'lxc/src/lxc-tools.ts', 'lxc/src/health.ts', 'lxc/src/entry-rules.ts', 'audit/src/live/auditd-service.ts']);

  it.each(WITHOUT_EXTRA_CA_CERTS.map((c) => [c]))('contid %s', (command) => {
    const { files, modules } = closure(commandModule(command));
    expect(files.size).toBeGreaterThan(5); // the walk went somewhere
    const outside = [...modules.keys()];
    expect(outside.filter((m) => NETWORK.includes(m))).toEqual([]);
    expect(outside.filter((m) => !m.startsWith('node:') && !PACKAGES_ALLOWED.has(m))).toEqual([]);
    const sources = [...files].map((f) => [relative(PACKAGES, f), readFileSync(f, 'utf8')] as const);
    expect(sources.filter(([, text]) => /\bfetch\s*\(|\bWebSocket\b/.test(text)).map(([f]) => f)).toEqual([]);
    expect(sources.filter(([f, text]) => /['"](node:)?child_process['"]/.test(text) && !STARTS_PROGRAMS.has(f)).map(([f]) => f)).toEqual([]);
  });

  it('the walk finds what makes a connection (it would refuse one)', () => {
    const agent = closure(commandModule('agent'));
    expect([...agent.modules.keys()].some((m) => NETWORK.includes(m) || !m.startsWith('node:') && !PACKAGES_ALLOWED.has(m))).toBe(true);
    const docker = closure(commandModule('docker'));
    expect([...docker.modules.keys()]).toContain('dockerode');
  });
});
