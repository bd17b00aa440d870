import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capSetting, dropsAuditControl } from '@contid/lxc';

/** LXC 5's reading of lxc.cap.drop / lxc.cap.keep, as measured with lxc-start on this host. */
describe('capSetting: does a container config drop CAP_AUDIT_CONTROL?', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'contid-capcfg-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const config = (text: string): string => {
    const f = join(dir, 'config');
    writeFileSync(f, text);
    return f;
  };

  it.each([
    ['the busybox template (no audit_control)', 'lxc.cap.drop = sys_module mac_admin mac_override sys_time\n', false],
    ['contid\'s line appended', 'lxc.cap.drop = sys_module\nlxc.cap.drop = audit_control\n', true],
    ['a drop cleared after contid\'s line', 'lxc.cap.drop = audit_control\nlxc.cap.drop =\n', false],
    ['a keep list naming audit_control', 'lxc.cap.drop =\nlxc.cap.keep = sys_admin audit_control\n', false],
    ['a keep list without it', 'lxc.cap.keep = sys_admin\n', true],
    ['keep none', 'lxc.cap.keep = none\n', true],
    ['the cap_ spelling and upper case', 'lxc.cap.drop = CAP_AUDIT_CONTROL\n', true],
    ['the number', 'lxc.cap.drop = 30\n', true],
    ['a comment is not a setting', '# lxc.cap.drop = audit_control\n', false],
  ])('%s', (_what, text, drops) => {
    expect(dropsAuditControl(capSetting(config(text)))).toBe(drops);
  });

  it('follows lxc.include of files and of directories (*.conf, sorted), and names the last line', () => {
    mkdirSync(join(dir, 'common.conf.d'));
    writeFileSync(join(dir, 'common.conf.d', 'b.conf'), 'lxc.cap.drop = audit_control\n');
    writeFileSync(join(dir, 'common.conf.d', 'a.conf'), 'lxc.cap.drop =\n');
    writeFileSync(join(dir, 'common.conf.d', 'c.txt'), 'lxc.cap.drop =\n');
    writeFileSync(join(dir, 'common.conf'), `lxc.cap.drop = sys_time\nlxc.include = ${join(dir, 'common.conf.d')}\n`);
    const s = capSetting(config(`lxc.include = ${join(dir, 'common.conf')}\nlxc.rootfs.path = dir:/x\n`));
    expect(s).toEqual({ mode: 'drop', caps: ['audit_control'], lastLine: `${join(dir, 'common.conf.d', 'b.conf')}: lxc.cap.drop = audit_control` });
    expect(dropsAuditControl(s)).toBe(true);
  });

  it('reads an edit not yet written, and survives an include loop', () => {
    const f = config('lxc.cap.drop = audit_control\n');
    expect(dropsAuditControl(capSetting(f, 'lxc.cap.drop = sys_time\n'))).toBe(false);
    writeFileSync(f, `lxc.include = ${f}\nlxc.cap.drop = audit_control\n`);
    expect(dropsAuditControl(capSetting(f))).toBe(true);
  });
});
