import { entryRules, lxcStartName } from '../src';

describe('entry rules and the starter lookup', () => {
  it('rules are written as auditctl -l prints them, for both arches and both tools', () => {
    expect(entryRules({ lxcPath: '/var/lib/lxc', lxcStart: '/usr/bin/lxc-start', lxcAttach: '/usr/bin/lxc-attach', lxcAutostart: '/usr/bin/lxc-autostart' })).toEqual([
      '-a always,exit -F arch=b64 -S pivot_root,setns -F dir=/var/lib/lxc -F key=contid-lxc-entry',
      '-a always,exit -F arch=b32 -S pivot_root,setns -F dir=/var/lib/lxc -F key=contid-lxc-entry',
      // an init's pivot_root wherever its root lies (a rootfs on its own mount)
      '-a always,exit -F arch=b64 -S pivot_root -F exe=/usr/bin/lxc-start -F key=contid-lxc-entry',
      '-a always,exit -F arch=b64 -S pivot_root -F exe=/usr/bin/lxc-autostart -F key=contid-lxc-entry',
      // every mount-namespace join (lxc-attach runs from a memfd: no exe rule names it)
      '-a always,exit -F arch=b64 -S setns -F a1&0x20000 -F key=contid-lxc-join',
      '-a always,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/lxc-start -F key=contid-lxc-entry',
      '-a always,exit -F arch=b64 -S execve,execveat -F exe=/usr/bin/lxc-attach -F key=contid-lxc-entry',
    ]);
    expect(entryRules({ lxcPath: '/srv/lxc', lxcStart: null, lxcAttach: null })).toHaveLength(3);
  });

  it.each([['/var/lib/my lxc'], ['relative'], ['/x;rm']])('a path auditctl would split or misread is refused: %s', (path) => {
    expect(() => entryRules({ lxcPath: path, lxcStart: null, lxcAttach: null })).toThrow(/cannot write .* into an audit rule/);
  });

  it.each([
    [['lxc-start', '-n', 'web'], 'web'],
    [['lxc-start', '--name', 'web', '-F'], 'web'],
    [['lxc-start', '--name=web'], 'web'],
    [['lxc-start', '-nweb', '-d'], 'web'],
    [['lxc-start', '-F', '--', '-n', 'web'], null],
    [['lxc-start'], null],
  ])('lxc-start %j names %s', (argv, name) => {
    expect(lxcStartName(argv)).toBe(name);
  });
});
