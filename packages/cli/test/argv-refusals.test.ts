import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { VARIADIC_POSITIONALS } from '../src/repeated-options';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * What a user types reaches contid as typed, or is refused with one line and exit 2 (outside
 * attack 7, F10): yargs' dot notation made `--container.toString 1` an object (internal errors,
 * a search for "[object Object]"), and an option given twice became an array ("a,b"). Options
 * declared to repeat (-m, --label, -i, --start's date and time …) still do. The built CLI, as
 * users run it; nothing needs root or a registry.
 */
const MAIN = resolve(__dirname, '../dist/main.js');
const LOG = resolve(__dirname, '../../audit/test/fixtures/golden-local-enriched.log');

describe('contid argv: dotted and repeated options', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-argv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, CONTID_STATE_DIR: join(dir, 'state'), CONTID_INDEX_DIR: join(dir, 'index'), TZ: 'UTC' };
  const contid = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { env, encoding: 'utf8', input: '', timeout: 60_000 });

  const refused: [string[], string][] = [
    [['search', '--container.toString', '1', '-if', LOG], 'Unknown argument: container.toString'],
    [['search', '--start.toString', 'x', '-if', LOG], 'Unknown argument: start.toString'],
    [['report', '--container.toString', '1', '-if', LOG], 'Unknown argument: container.toString'],
    [['exec', '--name.toString', 'x', '--', 'true'], 'Unknown argument: name.toString'],
    [['tail', '--socket.toString', '1', '--source', 'file', '--file', '/dev/null'], 'Unknown argument: socket.toString'],
    [['search', '--container.x', '1', '-if', LOG], 'Unknown argument: container.x'],
    [['search', '--label.a', 'b', '-if', LOG], 'Unknown argument: label.a'],
    [['ps', '--state-dir.x', 'y'], 'Unknown arguments: state-dir.x, stateDir.x'],
    [['search', '--container', 'a', '--container', 'b', '-if', LOG], '--container takes one value and was given 2 ("a", "b"); give it once'],
    [['search', '-c', 'a', '--container', 'b', '-if', LOG], '--container takes one value and was given 2 ("a", "b"); give it once'],
    [['search', '-k', 'k1', '-k', 'k2', '-if', LOG], '--key takes one value and was given 2 ("k1", "k2"); give it once'],
    [['search', '-p', '1', '--pid', '2', '-if', LOG], '--pid takes one value and was given 2 (1, 2); give it once'],
    [['search', '-if', LOG, '--format', 'raw', '--format', 'json'], '--format takes one value and was given 2 ("raw", "json"); give it once'],
    [['report', '-if', LOG, '--html', 'a.html', '--html', 'b.html'], '--html takes one value and was given 2 ("a.html", "b.html"); give it once'],
    [['exec', '--name', 'a', '--name', 'b', '--', 'true'], '--name takes one value and was given 2 ("a", "b"); give it once'],
    [['tail', '--source', 'file', '--file', '/dev/null', '--socket', 'a', '--socket', 'b'], '--socket takes one value and was given 2 ("a", "b"); give it once'],
    [['serve', '--socket', 'a', '--socket', 'b'], '--socket takes one value and was given 2 ("a", "b"); give it once'],
    [['ps', '--orchestrator', 'a', '--orchestrator', 'b'], '--orchestrator takes one value and was given 2 ("a", "b"); give it once'],
    [['ps', '--state-dir', 'a', '--state-dir', 'b'], '--state-dir takes one value and was given 2 ("a", "b"); give it once'],
  ];
  it.each(refused)('%j: one line, exit 2', (args, message) => {
    const r = contid(args);
    expect([r.status, r.stderr, r.stdout]).toEqual([2, `contid: ${message}\n`, '']);
  });

  it('options meant to repeat still take every value', () => {
    const once = contid(['search', '-if', LOG, '-m', 'EXECVE', '--raw']);
    const both = contid(['search', '-if', LOG, '-if', LOG, '-m', 'EXECVE', '-m', 'SYSCALL', '-n', 'x', '--node', 'y', '--raw']);
    expect([once.status, both.status]).toEqual([0, 1]); // no events of nodes x and y: exit 1, as ausearch
    expect(once.stdout).toMatch(/type=EXECVE/);
    const typed = contid(['search', '-if', LOG, '-if', LOG, '-m', 'EXECVE', '-m', 'SYSCALL', '--raw']);
    expect(typed.status).toBe(0);
    expect(typed.stdout).toMatch(/type=SYSCALL/);
    expect(contid(['search', '-if', LOG, '--start', '01/01/2000', '00:00:00', '--raw']).status).toBe(0);
    const labels = contid(['ps', '--label', 'a=1', '--label', 'b=2']);
    expect([labels.status, labels.stderr]).toEqual([0, expect.not.stringMatching(/given|Unknown/)]);
  });

  it('variadic positionals take their many words: install and uninstall pass their own options on (not "--args takes one value")', () => {
    // Not root here or no such target: whatever the answer, it is not the repeated-option refusal.
    for (const args of [
      ['install', 'no-such-target', '--daemon-json', 'x', '--shim-path', 'y'],
      ['uninstall', 'no-such-target', '--daemon-json', 'x', '--force'],
      ['lxc', 'start', 'no-such-container', '--', '-F', 'x'],
    ]) {
      const r = contid(args);
      expect(r.stderr).not.toMatch(/takes one value/);
    }
  });

  it('VARIADIC_POSITIONALS names every [NAME..] of the command strings', () => {
    const dirOf = resolve(__dirname, '../src/commands');
    const names = new Set<string>();
    for (const f of readdirSync(dirOf).filter((n) => n.endsWith('.ts'))) {
      for (const m of readFileSync(join(dirOf, f), 'utf8').matchAll(/command: '[^']*[[<]([a-z-]+)\.\.[\]>]/g)) names.add(m[1]);
    }
    expect([...names].sort()).toEqual([...VARIADIC_POSITIONALS].sort());
  });

  it("exec's command after -- keeps its own repeated and dotted words", () => {
    const r = contid(['exec', '--', 'echo', '--name', 'a', '--name', 'b', '--x.y', '1']);
    // as root this runs; without the audit capabilities it is refused before the command starts
    if (r.status === 0) expect(r.stdout).toBe('--name a --name b --x.y 1\n');
    else expect(r.stderr).not.toMatch(/Unknown argument|given 2/);
  });

  it('several words where a command takes them: LXC\'s hook arguments (NAME lxc TYPE), lxc-start\'s options, install\'s names', () => {
    const hook = spawnSync(process.execPath, [MAIN, 'lxc', 'hook', 'c1', 'lxc', 'start-host'], { env: { ...env, LXC_NAME: 'c2' }, encoding: 'utf8' });
    expect(hook).toMatchObject({ status: 2, stderr: 'contid: hook arguments name "c1" but LXC_NAME is "c2"\n' });
    const start = contid(['lxc', 'start', 'contid-t-argv-nosuch', '-d', '-l', 'DEBUG']);
    expect(start.stderr).not.toMatch(/given 3/);
    expect(contid(['install', 'lxc', 'contid-t-argv-a', 'contid-t-argv-b']).stderr).not.toMatch(/given 2/);
  });
});
