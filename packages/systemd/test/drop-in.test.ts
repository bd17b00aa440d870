import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderDropIn, splitSystemctlCat } from '../src';

const INTEGRATIONS = resolve(__dirname, '../../../integrations/systemd');
const CONTID = '/usr/local/bin/contid';
const unitFile = (path: string) => [{ path, text: readFileSync(path, 'utf8') }];
const wrapped = (text: string) => text.split('\n').filter((l) => l.startsWith('ExecStart'));

describe('the drop-in contid install systemd writes', () => {
  test.each(['systemd-nspawn@.service', 'lxc@.service'])('the shipped %s drop-in is what the installer writes for the unit file Debian ships', (unit) => {
    const shipped = readFileSync(join(INTEGRATIONS, `${unit}.d`, 'contid.conf'), 'utf8');
    expect(renderDropIn(unit, unitFile(`/lib/systemd/system/${unit}`), CONTID)).toBe(shipped);
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
    const text = renderDropIn('job.service', splitSystemctlCat(cat), CONTID);
    expect(wrapped(text)).toEqual([
      'ExecStart=',
      `ExecStart=-${CONTID} exec --systemd --unit %n -- /bin/first --flag  "two words"`,
      `ExecStart=+${CONTID} exec --systemd --unit %n -- /bin/second %i`,
    ]);
    expect(text).toContain(`ExecStopPost=+${CONTID} systemd end --unit %n\n`);
  });

  test('refuses what it cannot wrap, in one line', () => {
    const unit = (exec: string) => splitSystemctlCat(`# /etc/systemd/system/x.service\n[Service]\n${exec}\n`);
    expect(() => renderDropIn('x.service', unit('ExecStart=@/bin/sh argv0 -c x'), CONTID)).toThrow(/"@" .* cannot be wrapped/);
    expect(() => renderDropIn('x.service', unit('ExecStart=/usr/local/bin/contid lxc start %i -- -F'), CONTID)).toThrow(/already runs through contid/);
    expect(() => renderDropIn('x.service', unit('Type=oneshot'), CONTID)).toThrow('x.service has no ExecStart= to wrap');
  });
});
