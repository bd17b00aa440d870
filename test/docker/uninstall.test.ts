import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { DockerEngine } from './engine';

// `contid install docker` and `uninstall docker` against a real dockerd that reads the very
// daemon.json contid edits (--config-file), with containers on the contid runtime.
const state = tempStateDir('docker-uninstall');
const etc = join(state.dir, 'etc-docker');
const file = join(etc, 'daemon.json');
const shimPath = join(state.dir, 'libexec', 'contid-runc');
// Tab-indented, no trailing newline: what an operator wrote, to be given back byte for byte.
const ORIGINAL = '{\n\t"debug": false,\n\t"max-concurrent-downloads": 2\n}';
const engine = new DockerEngine({
  label: 'docker-uninstall',
  configFile: file,
  shimRuntime: false,
  env: { CONTID_STATE_DIR: join(state.dir, 'state'), CONTID_RUNC_CONF: join(state.dir, 'none.conf') },
});
const fileArgs = (f = file) => ['--daemon-json', f, '--shim-path', shimPath];
const uninstall = (...extra: string[]) => contid(['uninstall', 'docker', ...fileArgs(), '--host', engine.host, ...extra]);
const backups = (dir = etc) => readdirSync(dir).filter((f) => f.includes('contid-backup'));

beforeAll(async () => {
  mkdirSync(etc, { recursive: true });
  writeFileSync(file, ORIGINAL);
  const first = contid(['install', 'docker', ...fileArgs()]);
  expect(first.stderr).toBe('');
  expect(contid(['install', 'docker', ...fileArgs(), '--default-runtime']).status).toBe(0);
  await engine.start();
}, 120_000);

afterAll(async () => {
  await engine.stop();
  state.cleanup();
}, 60_000);

describe('contid uninstall docker on a real dockerd', () => {
  const running = uniqueName('keep');
  const stopped = uniqueName('stopped');

  test('install edits keep the file\'s tab indentation and leave one backup however often they run', () => {
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\{\n\t"debug": false,\n\t"max-concurrent-downloads": 2,\n\t"runtimes": \{\n\t\t"contid": \{/);
    expect(JSON.parse(text)['default-runtime']).toBe('contid');
    expect(backups()).toEqual(['daemon.json.contid-backup']);
    expect(readFileSync(join(etc, 'daemon.json.contid-backup'), 'utf8')).toBe(ORIGINAL);
    // dockerd runs the compiled shim installed beside the sh.
    expect(JSON.parse(text).runtimes.contid.path).toBe(`${shimPath}-fast`);
  });

  test('refuses while containers use the runtime and names each; the file, the shim and docker exec stay', () => {
    expect(engine.docker(['run', '-d', '--name', running, '--runtime', 'contid', engine.image, 'sh', '-c', 'sleep 600']).status).toBe(0);
    expect(engine.docker(['create', '--name', stopped, engine.image, 'true']).status).toBe(0); // the default runtime: contid
    const before = readFileSync(file, 'utf8');
    const r = uninstall();
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(r.stderr).toMatch(new RegExp(`^contid: 2 container\\(s\\) use the contid runtime: .*${running} \\([0-9a-f]{12}, running\\)`));
    expect(r.stderr).toContain(`${stopped} (`);
    expect(r.stderr).toMatch(/--force/);
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(existsSync(shimPath)).toBe(true);
    expect(engine.docker(['exec', running, 'sh', '-c', 'echo still']).stdout).toBe('still\n');
  });

  test('--force gives daemon.json back byte for byte and keeps the shim for the containers that still use it', () => {
    const r = uninstall('--force');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
    expect(backups()).toEqual([]);
    expect(r.stdout).toContain(`kept ${shimPath}: 2 container(s) still use it: `);
    expect(existsSync(shimPath)).toBe(true);
    // The running container still works through its runtime: exec, stop, remove.
    expect(engine.docker(['exec', running, 'sh', '-c', 'echo ok']).stdout).toBe('ok\n');
    expect(engine.docker(['stop', '-t', '1', running]).status).toBe(0);
    expect(engine.docker(['rm', running, stopped]).status).toBe(0);
    const again = uninstall();
    expect(again.stderr).toBe('');
    expect(again.stdout).toContain(`removed ${shimPath}`);
    expect(existsSync(shimPath)).toBe(false);
    expect(existsSync(`${shimPath}-fast`)).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL);
  });

  test('a daemon.json that contid created is removed again, with its marker', () => {
    const dir = join(state.dir, 'fresh');
    mkdirSync(dir, { recursive: true });
    const fresh = join(dir, 'daemon.json');
    expect(contid(['install', 'docker', ...fileArgs(fresh)]).status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['daemon.json', 'daemon.json.contid-created']);
    const r = contid(['uninstall', 'docker', ...fileArgs(fresh), '--host', engine.host]);
    expect(r.stdout).toMatch(/daemon\.json: removed \(contid had created it\)/);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('edits made after install are kept: only contid\'s keys go and the backup stays', () => {
    const dir = join(state.dir, 'edited');
    mkdirSync(dir, { recursive: true });
    const edited = join(dir, 'daemon.json');
    writeFileSync(edited, '{\n    "debug": true\n}\n');
    expect(contid(['install', 'docker', ...fileArgs(edited)]).status).toBe(0);
    const cfg = JSON.parse(readFileSync(edited, 'utf8'));
    writeFileSync(edited, JSON.stringify({ ...cfg, 'log-level': 'warn' }, null, 4) + '\n');
    const r = contid(['uninstall', 'docker', ...fileArgs(edited), '--host', engine.host]);
    expect(r.stdout).toMatch(/edited since install, so other changes are kept \(the original stays in .*daemon\.json\.contid-backup\)/);
    expect(readFileSync(edited, 'utf8')).toBe('{\n    "debug": true,\n    "log-level": "warn"\n}\n');
  });

  test('without a reachable dockerd it refuses unless --force, and then keeps the shim', () => {
    const dir = join(state.dir, 'nodaemon');
    mkdirSync(dir, { recursive: true });
    const f = join(dir, 'daemon.json');
    expect(contid(['install', 'docker', ...fileArgs(f)]).status).toBe(0);
    const args = ['uninstall', 'docker', ...fileArgs(f), '--host', `unix://${join(dir, 'no.sock')}`];
    const refused = contid(args);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^contid: cannot ask dockerd which containers use the contid runtime \(.*\); start it, name it with --host, or pass --force\n$/);
    expect(existsSync(f)).toBe(true);
    const forced = contid([...args, '--force']);
    expect(forced.status).toBe(0);
    expect(forced.stdout).toMatch(/kept .*contid-runc: dockerd could not be asked/);
    expect(existsSync(f)).toBe(false);
    expect(existsSync(shimPath)).toBe(true);
  });
});
