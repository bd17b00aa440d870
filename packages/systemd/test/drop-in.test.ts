import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderDropIn, splitSystemctlCat } from '../src';

const INTEGRATIONS = resolve(__dirname, '../../../integrations/systemd');
const WRAPPER = '/usr/local/libexec/contid/contid-systemd';
const COMMANDS = { wrapper: WRAPPER, busybox: '/bin/busybox' };
/** contid's own `+` lines: a static busybox clears the unit's environment, passing only what systemd gives them. */
const BIND = `+/bin/busybox env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MAINPID=\${MAINPID} INVOCATION_ID=\${INVOCATION_ID} ${WRAPPER} bind --unit %n`;
const unitFile = (path: string) => [{ path, text: readFileSync(path, 'utf8') }];
const wrapped = (text: string) => text.split('\n').filter((l) => l.startsWith('ExecStart'));

describe('the drop-in contid install systemd writes', () => {
  test.each(['systemd-nspawn@.service', 'lxc@.service'])('the shipped %s drop-in is what the installer writes for the unit file Debian ships', (unit) => {
    const shipped = readFileSync(join(INTEGRATIONS, `${unit}.d`, 'contid.conf'), 'utf8');
    expect(renderDropIn(unit, unitFile(`/lib/systemd/system/${unit}`), COMMANDS)).toBe(shipped);
  });

  test('follows ExecStart= resets across drop-ins, keeps prefixes, wraps every line of a oneshot, joins continuations', () => {
    const cat = [
      '# /lib/systemd/system/job.service',
      '[Service]',
      'Type=oneshot',
      'ExecStart=/bin/old',
      '',
      '# /etc/systemd/system/job.service.d/override.conf',
      '[Service]',
      'ExecStart=',
      'ExecStart=-/bin/first --flag \\',
      '   "two words"',
      '; a comment',
      'ExecStart=+/bin/second %i',
      '# /etc/systemd/system/job.service.d/contid.conf',
      '[Service]',
      'ExecStart=',
      'ExecStart=/usr/local/bin/contid exec --systemd --unit %n -- /bin/stale',
    ].join('\n');
    const text = renderDropIn('job.service', splitSystemctlCat(cat), COMMANDS);
    expect(wrapped(text)).toEqual([
      'ExecStart=',
      `ExecStart=-${WRAPPER} exec --unit %n -- /bin/first --flag  "two words"`,
      `ExecStart=+${WRAPPER} exec --unit %n -- /bin/second %i`,
    ]);
    // contid serve learns the end from PID 1: no line of contid's own at the end.
    expect(text).not.toContain('ExecStopPost=');
    expect(text).not.toContain(' end --unit');
  });

  test('wraps every Exec line in order (the first creates, later ones join), the unit\'s own ExecStopPost= too, and adds no end line', () => {
    const unit = splitSystemctlCat(
      [
        '# /etc/systemd/system/web.service',
        '[Service]',
        'ExecStartPre=/bin/mkdir -p /run/web',
        'ExecStart=/usr/sbin/web',
        'ExecStartPost=-/bin/touch /run/web/up',
        'ExecReload=/bin/kill -HUP $MAINPID',
        'ExecStop=/usr/sbin/web --stop',
        'ExecStopPost=/bin/rm -rf /run/web',
        'ExecCondition=/bin/test -e /etc/web.conf',
      ].join('\n'),
    );
    const lines = renderDropIn('web.service', unit, COMMANDS).split('\n').filter((l) => l.startsWith('Exec'));
    const w = (key: string, cmd: string, prefix = '') => `${key}=${prefix}${WRAPPER} exec --unit %n -- ${cmd}`;
    expect(lines).toEqual([
      'ExecStartPre=',
      w('ExecStartPre', '/bin/mkdir -p /run/web'),
      'ExecStart=',
      w('ExecStart', '/usr/sbin/web'),
      'ExecStartPost=',
      w('ExecStartPost', '/bin/touch /run/web/up', '-'),
      'ExecReload=',
      w('ExecReload', '/bin/kill -HUP $MAINPID'),
      'ExecStop=',
      w('ExecStop', '/usr/sbin/web --stop'),
      'ExecStopPost=',
      w('ExecStopPost', '/bin/rm -rf /run/web'),
    ]);
  });

  test('a forking unit records $MAINPID from ExecStartPost=; a confined unit wraps only its + lines besides ExecStart=', () => {
    const forking = splitSystemctlCat('# /etc/systemd/system/d.service\n[Service]\nType=forking\nPIDFile=/run/d.pid\nExecStart=/usr/sbin/d\n');
    expect(renderDropIn('d.service', forking, COMMANDS)).toContain(`ExecStartPost=\nExecStartPost=${BIND}\n`);
    const confined = splitSystemctlCat('# /etc/systemd/system/c.service\n[Service]\nUser=nobody\nExecStartPre=/bin/true\nExecStartPre=+/bin/mkdir /run/c\nExecStart=/bin/c\n');
    expect(renderDropIn('c.service', confined, COMMANDS).split('\n').filter((l) => l.startsWith('Exec'))).toEqual([
      'ExecStartPre=',
      'ExecStartPre=/bin/true',
      `ExecStartPre=+${WRAPPER} exec --unit %n -- /bin/mkdir /run/c`,
      'ExecStart=',
      `ExecStart=${WRAPPER} exec --renew-only --unit %n -- /bin/c`,
      'ExecStartPost=',
      `ExecStartPost=${BIND}`,
    ]);
  });

  test('refuses what it cannot wrap, in one line', () => {
    const unit = (exec: string) => splitSystemctlCat(`# /etc/systemd/system/x.service\n[Service]\n${exec}\n`);
    expect(() => renderDropIn('x.service', unit('ExecStart=@/bin/sh argv0 -c x'), COMMANDS)).toThrow(/"@" .* cannot be wrapped/);
    expect(() => renderDropIn('x.service', unit('ExecStart=/usr/local/bin/contid lxc start %i -- -F'), COMMANDS)).toThrow(/already runs through contid/);
    expect(() => renderDropIn('x.service', unit('ExecStart=/usr/local/libexec/contid/contid-systemd exec --unit %n -- /bin/x'), COMMANDS)).toThrow(/already runs through contid/);
    expect(() => renderDropIn('x.service', unit('Type=oneshot'), COMMANDS)).toThrow('x.service has no ExecStart= to wrap');
  });
});
