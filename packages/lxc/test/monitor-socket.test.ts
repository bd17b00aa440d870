import { monitorSocketName } from '../src/monitor-socket';

describe('monitorSocketName: the abstract socket LXC 5 names a container monitor after', () => {
  it('is LXCPATH/NAME/command while that fits in sun_path (what /proc/net/unix shows as @/var/lib/lxc/web/command)', () => {
    expect(monitorSocketName('/var/lib/lxc', 'web')).toBe('/var/lib/lxc/web/command');
    // 105 bytes still fit (a leading NUL and LXC's trailing one in 108).
    const name = 'n'.repeat(105 - '/var/lib/lxc//command'.length);
    expect(monitorSocketName('/var/lib/lxc', name)).toBe(`/var/lib/lxc/${name}/command`);
  });

  it('is lxc/HASH/command (FNV-1a 64 of LXCPATH/NAME, 16 hex digits) beyond that', () => {
    const long = 'x'.repeat(106 - '/var/lib/lxc//command'.length);
    const hashed = monitorSocketName('/var/lib/lxc', long);
    expect(hashed).toMatch(/^lxc\/[0-9a-f]{16}\/command$/);
    expect(monitorSocketName('/var/lib/lxc', long + 'y')).not.toBe(hashed);
    expect(monitorSocketName('/srv/lxc', long)).not.toBe(hashed);
  });
});
