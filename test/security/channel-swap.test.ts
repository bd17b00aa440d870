import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callService } from '@contid/service';
import { uniqueName } from '../helpers/cli';
import { RUNTIME, securityEngine, stopNestedSuite } from './docker-engine';
import { FIXTURES, ServiceProcess } from './harness';

/**
 * Root in a real Docker container holds its nested channel's directory read-write (it must, to
 * reach the socket). When contid serve opens the channel, the container swaps the fresh socket
 * for a symlink to a host file: the service must not change that file's mode (it once ran
 * chmod(path, 0600) after bind, which follows the symlink — any host file, /etc/passwd included).
 */
describe('a container swaps its nested channel socket for a symlink (own dockerd, real kernel)', () => {
  const engine = securityEngine('chanswap');
  const service = new ServiceProcess('chanswap');
  const hostDir = mkdtempSync(join(tmpdir(), 'contid-chanswap-'));
  const victim = join(hostDir, 'victim.txt');

  const racer = join(hostDir, 'swap-channel');
  const ATTEMPTS = 100;

  beforeAll(async () => {
    const cc = spawnSync('gcc', ['-O2', '-static', '-o', racer, join(FIXTURES, 'swap-channel.c')], { encoding: 'utf8' });
    if (cc.status !== 0) throw new Error(`gcc: ${cc.stderr}`);
    await engine.start();
    await service.start();
  }, 240_000);
  afterAll(async () => {
    await stopNestedSuite(engine, service);
    rmSync(hostDir, { recursive: true, force: true });
  }, 120_000);

  it('the host file keeps its mode, and the service stays up', async () => {
    writeFileSync(victim, 'host file\n');
    chmodSync(victim, 0o644);
    const name = uniqueName('swap');
    const channelDir = `${engine.execRoot}/nested-${name}`;
    const run = engine.docker([
      'run', '-d', '--name', name, '--runtime', RUNTIME, '--network', 'none',
      '-v', `${racer}:/swap-channel:ro`, '-v', `${channelDir}:/run/contid`,
      engine.image, 'sh', '-c', `/swap-channel /run/contid ${ATTEMPTS} ${victim}; sleep 60`,
    ]);
    expect(run.stderr).toBe('');
    const id = run.stdout.trim();
    const initPid = Number(engine.docker(['inspect', '-f', '{{.State.Pid}}', id]).stdout.trim());
    const contid = String((await callService(service.socket, { op: 'create', orchestrator: 'docker', name, runtimeId: id, target: { pid: initPid } })).contid);
    let logs = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && !logs.includes('"step":"ready"'); ) {
      await new Promise((r) => setTimeout(r, 100));
      logs = engine.docker(['logs', id]).stdout;
    }
    // One channel per directory the container made: each is one race it may win.
    const opened: string[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const r = await callService(service.socket, { op: 'channel', contid, path: join(channelDir, String(i)) }).catch((e: Error) => e.message);
      if (typeof r === 'string') opened.push(r);
    }
    expect(opened).toEqual([]);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !logs.includes('"step":"swap"')) {
      await new Promise((r) => setTimeout(r, 200));
      logs = engine.docker(['logs', id]).stdout;
    }
    expect(logs).toMatch(/"step":"swap","ok":true,"result":[1-9]/);
    expect((statSync(victim).mode & 0o777).toString(8)).toBe('644');
    expect(service.child?.exitCode).toBeNull();
  }, 180_000);
});
