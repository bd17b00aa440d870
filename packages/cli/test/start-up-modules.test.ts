import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/*
 * `contid search` starts up with what it uses: the native modules (koffi, better-sqlite3) are
 * required on first use (core's native-modules.ts), the LXC package only when an entry's root
 * needs a name. Importing @contid/core or @contid/audit loads neither. Runs the built CLI
 * (packages/cli/dist, as the e2e tests do) and lists the modules it loaded.
 */
const MAIN = resolve(__dirname, '../dist/main.js');
const LOG = resolve(__dirname, '../../audit/test/fixtures/golden-local-enriched.log');

describe('search start-up loads only what the run uses', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-start-up-'));
  const hook = join(dir, 'list-modules.js');
  writeFileSync(hook, `process.on('exit', () => require('fs').writeFileSync(process.env.MODULES_OUT, JSON.stringify(Object.keys(require.cache))));\n`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The modules `node -r hook ARGS` had loaded when it exited. */
  function loaded(args: string[]): string[] {
    const out = join(dir, 'modules.json');
    rmSync(out, { force: true });
    const env = { ...process.env, MODULES_OUT: out, CONTID_STATE_DIR: join(dir, 'state'), CONTID_INDEX_DIR: join(dir, 'index'), TZ: 'UTC' };
    spawnSync(process.execPath, ['-r', hook, ...args], { env, encoding: 'utf8', cwd: resolve(__dirname, '..') });
    return JSON.parse(readFileSync(out, 'utf8')) as string[];
  }
  const has = (modules: string[], pattern: RegExp): boolean => modules.some((m) => pattern.test(m));

  it('a raw search without an index or a registry: no koffi, no better-sqlite3, no LXC package', () => {
    const modules = loaded([MAIN, 'search', '-m', 'SYSCALL', '-if', LOG]);
    expect(has(modules, /packages[/\\]audit[/\\]dist[/\\]search\.js$/)).toBe(true); // the search did run
    expect(has(modules, /[/\\]koffi[/\\]/)).toBe(false);
    expect(has(modules, /[/\\]better-sqlite3[/\\]/)).toBe(false);
    expect(has(modules, /packages[/\\]lxc[/\\]/)).toBe(false);
  });

  it("a search loads the modules of its own path: not the packages' entry points, the live pipeline, the tagger or the registry", () => {
    const modules = loaded([MAIN, 'search', '-m', 'SYSCALL', '-if', LOG]);
    const ours = modules.filter((m) => /packages[/\\][a-z-]+[/\\]dist[/\\]/.test(m));
    expect(has(modules, /packages[/\\]audit[/\\]dist[/\\]search\.js$/)).toBe(true);
    for (const unwanted of [
      /packages[/\\](audit|core)[/\\]dist[/\\]index\.js$/, // entry points: everything each package has
      /packages[/\\]audit[/\\]dist[/\\]live[/\\]/, // tail's pipeline
      /packages[/\\]audit[/\\]dist[/\\](interpret-pipe|entries-live)\.js$/,
      /packages[/\\]core[/\\]dist[/\\](tagger|registry|liveness|allocator|audit-emitter)\.js$/,
    ]) expect(ours.filter((m) => unwanted.test(m))).toEqual([]);
    // 122 modules before the CLI imported by path (89 of them contid's, 55 now): a new import of
    // an entry point or a heavy module shows here
    expect(ours.length).toBeLessThanOrEqual(64);
  });

  it('a search written plainly runs without yargs; any other spelling goes through it (plain-args.ts)', () => {
    expect(has(loaded([MAIN, 'search', '-m', 'SYSCALL', '-if', LOG]), /[/\\]yargs[/\\]/)).toBe(false);
    expect(has(loaded([MAIN, 'search', '--type=SYSCALL', '-if', LOG]), /[/\\]yargs[/\\]/)).toBe(true);
  });

  it("a raw search whose output goes to pipes makes neither process.stdout nor process.stderr: no tty, net or zlib module", () => {
    // the indexed query writes with writeSync(1); the stream modules were ≈ 10 ms of its start
    const out = join(dir, 'builtins.json');
    const builtins = join(dir, 'list-builtins.js');
    writeFileSync(builtins, `process.on('exit', () => require('fs').writeFileSync(process.env.BUILTINS_OUT, JSON.stringify(process.moduleLoadList)));\n`);
    const env = { ...process.env, BUILTINS_OUT: out, CONTID_STATE_DIR: join(dir, 'state'), CONTID_INDEX_DIR: join(dir, 'index'), TZ: 'UTC' };
    const r = spawnSync(process.execPath, ['-r', builtins, MAIN, 'search', '-m', 'SYSCALL', '-if', LOG], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(r.status).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    const list = JSON.parse(readFileSync(out, 'utf8')) as string[];
    expect(list.filter((m) => /^NativeModule (tty|net|zlib)$/.test(m))).toEqual([]);
  });

  it('a raw search loads no event formatter (format.ts and what it imports) and no --strict check; the other formats and --strict do', () => {
    // (a module required after start-up is listed under packages/cli/node_modules/@contid/… when
    // node runs with -r: either path counts)
    const formatters = /[/\\]audit[/\\]dist[/\\](format|interpret|normalized-report|json-event|csv-cell)\.js$/;
    const strict = /[/\\]audit[/\\]dist[/\\]strict-check\.js$/;
    const raw = loaded([MAIN, 'search', '-m', 'SYSCALL', '-if', LOG]);
    expect(raw.filter((m) => formatters.test(m) || strict.test(m))).toEqual([]);
    expect(has(loaded([MAIN, 'search', '-m', 'SYSCALL', '--format', 'csv', '-if', LOG]), /[/\\]audit[/\\]dist[/\\]format\.js$/)).toBe(true);
    expect(has(loaded([MAIN, 'search', '-m', 'SYSCALL', '--strict', '-if', LOG]), strict)).toBe(true);
  });

  it('--interpret loads koffi (libauparse) when it needs it', () => {
    expect(has(loaded([MAIN, 'search', '-m', 'SYSCALL', '-i', '-if', LOG]), /[/\\]koffi[/\\]/)).toBe(true);
  });

  it('importing @contid/core and @contid/audit loads no native module', () => {
    const modules = loaded(['-e', "require('@contid/core'); require('@contid/audit')"]);
    expect(has(modules, /packages[/\\]audit[/\\]dist[/\\]index\.js$/)).toBe(true);
    expect(has(modules, /[/\\](koffi|better-sqlite3)[/\\]/)).toBe(false);
  });
});
