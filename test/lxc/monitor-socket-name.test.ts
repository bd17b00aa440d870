import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorSocketName } from '@contid/lxc';
import { run } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

/**
 * The name contid looks for a container's monitor under is the one real LXC listens on, also
 * where `LXCPATH/NAME/command` does not fit in sun_path and LXC hashes it (FNV-1a 64): a
 * container under a long lxcpath, started by real LXC, its abstract socket read from
 * /proc/net/unix.
 */
describe("the LXC monitor's command socket name (real LXC)", () => {
  const lxcPath = join('/var/tmp', `contid-t-fnv-${'x'.repeat(72)}-${Math.random().toString(36).slice(2, 10)}`);
  const name = 'fnvc';
  afterAll(() => {
    run('lxc-stop', ['-P', lxcPath, '-n', name, '-k']);
    run('lxc-destroy', ['-P', lxcPath, '-n', name, '-f']);
    rmSync(lxcPath, { recursive: true, force: true });
  });

  it('a path too long for sun_path: the FNV-1a name LXC listens on', async () => {
    mkdirSync(lxcPath, { recursive: true });
    expect(Buffer.byteLength(`${lxcPath}/${name}/command`)).toBeGreaterThan(106);
    expect(run('lxc-create', ['-P', lxcPath, '-t', 'busybox', '-n', name]).status).toBe(0);
    const config = join(lxcPath, name, 'config');
    writeFileSync(
      config,
      readFileSync(config, 'utf8')
        .split('\n')
        .filter((l) => !/^lxc\.net\.0\.(link|flags)\b/.test(l) && !/^lxc\.apparmor\.allow_nesting\b/.test(l))
        .map((l) => (/^lxc\.net\.0\.type\b/.test(l) ? 'lxc.net.0.type = empty' : /^lxc\.apparmor\.profile\b/.test(l) ? 'lxc.apparmor.profile = unconfined' : l))
        .join('\n'),
    );
    expect(run('lxc-start', ['-P', lxcPath, '-n', name]).status).toBe(0);
    await waitFor('the container running', () => run('lxc-info', ['-P', lxcPath, '-n', name, '-s', '-H']).stdout.trim() === 'RUNNING');
    const expected = monitorSocketName(lxcPath, name);
    expect(expected).toMatch(/^lxc\/[0-9a-f]{16}\/command$/);
    const listening = readFileSync('/proc/net/unix', 'latin1')
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[7])
      .filter((p): p is string => p !== undefined && p.startsWith('@lxc/'));
    expect(listening).toContain(`@${expected}`);
  });
});
