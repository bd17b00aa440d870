import { AttributedContainer, AuditEvent, Reassembler, matchesFilter, parseRecord } from '@contid/audit';
import { parseContainerId } from '@contid/core';

// --requested-by and --label/--project decide on the event's auid and the container's labels.
function event(auid: number, serial = 1): AuditEvent {
  const r = new Reassembler();
  const rec = parseRecord(`type=SYSCALL msg=audit(1700000000.000:${serial}): arch=c000003e syscall=59 success=yes exit=0 pid=5 ppid=4 auid=${auid} uid=0 ses=77 comm="id" exe="/bin/busybox" key=(null)`)!;
  return [...r.push(rec), ...r.flush()][0]!;
}

const web: AttributedContainer = {
  contid: parseContainerId('12345'),
  name: 'web',
  orchestrator: 'docker',
  runtimeId: 'a'.repeat(64),
  parent: null,
  image: null,
  labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'web' },
};

describe('filters on who asked and on labels', () => {
  test('--requested-by: events in a container whose auid is the requester; never an unattributed event', () => {
    expect(matchesFilter({ requestedBy: 1001 }, event(1001), [web])).toBe(true);
    expect(matchesFilter({ requestedBy: 1001 }, event(0), [web])).toBe(false);
    expect(matchesFilter({ requestedBy: 1001 }, event(1001), [])).toBe(false); // alice on the host, not through Docker
  });

  test('--label and --project: every label on the container', () => {
    expect(matchesFilter({ labels: { 'com.docker.compose.project': 'shop' } }, event(0), [web])).toBe(true);
    expect(matchesFilter({ labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'db' } }, event(0), [web])).toBe(false);
    expect(matchesFilter({ labels: { 'com.docker.compose.project': 'shop' } }, event(0), [{ ...web, labels: undefined }])).toBe(false);
    expect(matchesFilter({ labels: { x: 'y' } }, event(0), [])).toBe(false);
  });
});
