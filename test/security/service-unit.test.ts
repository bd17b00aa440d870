import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTID_MAIN, contid, run } from '../helpers/cli';

/** `contid install service`: the shipped unit, pointed at this contid, checked by systemd's own verifier. */
describe('contid install service (systemd unit for contid serve)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'contid-sec-unit-'));
  const unit = join(dir, 'contid.service');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a unit systemd-analyze accepts, running this contid as a root-only service', () => {
    const r = contid(['install', 'service', dir]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`wrote ${unit}; run systemctl daemon-reload && systemctl enable --now contid\n`);
    const text = readFileSync(unit, 'utf8');
    expect(text).toContain(`ExecStart=${process.execPath} ${CONTID_MAIN} serve --socket /run/contid/contid.sock\n`);
    expect(text).toMatch(/^RuntimeDirectoryMode=0700$/m);
    expect(text).toMatch(/^UMask=0077$/m);
    const verify = run('systemd-analyze', ['verify', unit]);
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
    expect(contid(['install', 'service', dir]).stdout).toBe(`${unit} is up to date\n`);
  });

  it('uninstalls its own unit and leaves a foreign one alone', () => {
    expect(contid(['uninstall', 'service', dir]).stdout).toBe(`removed ${unit}; run systemctl daemon-reload\n`);
    expect(existsSync(unit)).toBe(false);
    writeFileSync(unit, '[Service]\nExecStart=/bin/true\n');
    const r = contid(['install', 'service', dir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`contid: ${unit} was not written by contid install service; leaving it\n`);
    expect(readFileSync(unit, 'utf8')).toBe('[Service]\nExecStart=/bin/true\n');
  });
});
