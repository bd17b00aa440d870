import { Attributor } from '../src/attributor';
import { parseRecord, type AuditRecord } from '../src/record';

const NODE = '/usr/bin/node';
const rec = (line: string): AuditRecord => parseRecord(line)!;
const login = (ses: number, serial: number): AuditRecord =>
  rec(`type=LOGIN msg=audit(1795926138.739:${serial}): pid=30637 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`);
const binding = (ses: number, serial: number, contid: number): AuditRecord =>
  rec(
    `type=VIRT_CONTROL msg=audit(1795926138.743:${serial}): pid=30630 uid=0 auid=4294967295 ses=4294967295 msg='virt=docker op=create vm="c${contid}" uuid=? vm-pid=30637 vm-ses=${ses} contid=${contid} parent-contid=? ns=? node=? exe="${NODE}" hostname=? addr=? terminal=? res=success'`,
  );

// Unsigned bindings under the legacy exe rule: these tests are about table sizes, not trust.
describe('attributor tables bounded for a live reader', () => {
  test('maxSessions / maxContainers cap what a flood of sessions leaves behind; recent ones stay', () => {
    const a = new Attributor({ legacyTrustedExes: [NODE], maxSessions: 100, maxContainers: 50 });
    for (let i = 0; i < 20_000; i++) {
      a.observeRecord(login(1000 + i, 2 * i));
      if (i % 10 === 0) a.observeRecord(binding(1000 + i, 2 * i + 1, 5000 + i));
    }
    expect(a.tableSizes.sessions).toBe(100);
    expect(a.tableSizes.containers).toBe(50);
    expect(a.contidOfSession(1000 + 19_990)).toBe(5000n + 19_990n);
    expect(a.contidOfSession(1000)).toBeNull(); // dropped: a live reader asks the registry
  });

  test('without bounds (search over a log) every session is kept', () => {
    const a = new Attributor({ legacyTrustedExes: [NODE] });
    for (let i = 0; i < 5000; i++) a.observeRecord(login(1000 + i, i));
    expect(a.tableSizes.sessions).toBe(5000);
  });
});
