import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Registry } from '@contid/core';
import { CONTID_MAIN, tempStateDir } from '../helpers/cli';

// contid ps as scripts use it: piped into head (the reader closes early: contid leaves quietly,
// no stack trace), and selected by compose project or label.
const state = tempStateDir('epipe');
const stateDir = join(state.dir, 'state');

beforeAll(() => {
  const r = Registry.open(stateDir);
  for (let i = 0; i < 2000; i++) {
    r.registerContainer(
      { orchestrator: 'docker', name: `c${i}`, runtimeId: `r${i}`, initPid: 1, session: 900_000 + i, labels: { 'com.docker.compose.project': i % 2 ? 'odd' : 'even' } },
      { pid: 1, session: 900_000 + i, op: 'create', detail: {} },
    );
  }
  r.close();
});
afterAll(() => state.cleanup());

test.each([
  [['ps', '--all', '--json']],
  [['ps', '--all']],
])('contid %j | head -c 100: the first bytes, exit 0, nothing on stderr', (args) => {
  const r = spawnSync('sh', ['-c', `{ "${process.execPath}" "${CONTID_MAIN}" "$@"; echo "contid exited $?" >&2; } | head -c 100 >/dev/null`, 'sh', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CONTID_STATE_DIR: stateDir },
  });
  expect(r.stderr).toBe('contid exited 0\n');
});

test('ps --project and --label select by label; a malformed --label is one line, exit 2', () => {
  const ps = (args: string[]) => spawnSync(process.execPath, [CONTID_MAIN, 'ps', '--all', '--json', ...args], { encoding: 'utf8', env: { ...process.env, CONTID_STATE_DIR: stateDir }, maxBuffer: 64 << 20 });
  const names = (args: string[]) => ps(args).stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { name: string }).name);
  expect(names(['--project', 'odd'])).toHaveLength(1000);
  expect(names(['--project', 'odd']).every((n) => Number(n.slice(1)) % 2 === 1)).toBe(true);
  expect(names(['--label', 'com.docker.compose.project=even'])).toHaveLength(1000);
  expect(names(['--project', 'none'])).toEqual([]);
  const bad = ps(['--label', 'nokey']);
  expect([bad.status, bad.stderr]).toEqual([2, 'contid: --label takes KEY=VALUE, got "nokey"\n']);
});
