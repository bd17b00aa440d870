import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAP_DROP_LINE, hookContext, hookLines, lxcPathOf, systemdDropIn, validateContainerName } from '@contid/lxc';

describe('lxc argument handling', () => {
  it('finds the lxcpath lxc-start will use, in every spelling', () => {
    expect(lxcPathOf(['-F'])).toBeUndefined();
    expect(lxcPathOf(['-P', '/srv/lxc', '-F'])).toBe('/srv/lxc');
    expect(lxcPathOf(['-P/srv/lxc'])).toBe('/srv/lxc');
    expect(lxcPathOf(['--lxcpath=/srv/lxc'])).toBe('/srv/lxc');
    expect(lxcPathOf(['--lxcpath', '/srv/lxc'])).toBe('/srv/lxc');
    expect(lxcPathOf(['--', '-P', '/not/an/option'])).toBeUndefined();
  });

  it('refuses names that would be options, paths or hex-encoded audit fields', () => {
    for (const bad of ['', '-F', '.hidden', 'a/b', 'with space', 'x"y', 'ä']) expect(() => validateContainerName(bad)).toThrow(/is not an LXC container name/);
    expect(validateContainerName('web-1.prod_2')).toBe('web-1.prod_2');
  });

  it('reads the hook type from LXC_HOOK_TYPE (hook.version 1) or the third argument (version 0)', () => {
    expect(hookContext({ LXC_NAME: 'c1', LXC_HOOK_TYPE: 'post-stop', LXC_TARGET: 'reboot' }, [])).toMatchObject({ type: 'post-stop', name: 'c1', pid: null, target: 'reboot' });
    expect(hookContext({ LXC_NAME: 'c1', LXC_PID: '42', LXC_ROOTFS_PATH: '/r' }, ['c1', 'lxc', 'start-host'])).toMatchObject({ type: 'start-host', pid: 42, rootfs: '/r' });
  });

  it('writes hook and unit lines LXC and systemd run without quoting, and refuses words that need it', () => {
    expect(hookLines(['/usr/bin/node', '/opt/contid/hook-main.js', '--state-dir', '/var/lib/x'])).toEqual([
      'lxc.hook.start-host = /usr/bin/node /opt/contid/hook-main.js --state-dir /var/lib/x',
    ]);
    expect(systemdDropIn(['/opt/contid/contid-lxc', '--state-dir', '/x'], ['/usr/bin/node', '/opt/main.js'])).toMatch(
      /\nEnvironment="CONTID_CLI=\/usr\/bin\/node \/opt\/main\.js"\nExecStart=\nExecStart=\/opt\/contid\/contid-lxc --state-dir \/x start %i -- -F\n/,
    );
    expect(() => hookLines(['/opt/my contid/main.js'])).toThrow(/spaces or shell characters/);
    expect(() => hookLines(['/x;rm'])).toThrow(/spaces or shell characters/);
  });
});

describe('integrations/lxc', () => {
  const file = (p: string): string => readFileSync(join(__dirname, '../../../integrations/lxc', p), 'utf8');

  it('ships exactly what contid install lxc writes (with contid install self: contid-lxc in /usr/local/libexec/contid)', () => {
    const snippet = file('contid.conf').trim().split('\n');
    expect(snippet.slice(1, -1)).toEqual([...hookLines(['/usr/local/libexec/contid/contid-lxc', 'hook']), CAP_DROP_LINE]);
    expect(file('lxc@.service.d/contid.conf')).toBe(systemdDropIn(['/usr/local/libexec/contid/contid-lxc'], ['/usr/local/bin/contid']));
  });
});
