import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Registry } from '@contid/core';
import { CONTID_MAIN, tempStateDir } from '../helpers/cli';

// `contid … | head`: the reader closes the pipe early; contid must leave quietly (no stack trace).
const state = tempStateDir('epipe');
const stateDir = join(state.dir, 'state');

beforeAll(() => {
  const r = Registry.open(stateDir);
  for (let i = 0; i < 2000; i++) {
    r.registerContainer(
      { orchestrator: 'docker', name: `c${i}`, runtimeId: `r${i}`, initPid: 1, session: 900_000 + i, labels: { 'com.docker.compose.project': 'p' } },
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
