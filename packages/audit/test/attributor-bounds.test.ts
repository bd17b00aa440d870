import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';
import { Attributor } from '../src/attributor';
import { explicitSerialText, parseRecord, parseRecordBytes, type AuditRecord } from '../src/record';

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

  test('maxNodes caps the per-node boot tracking a flood of node= names leaves behind (outside attack 4); a node still tracked still shows its boot', () => {
    const a = new Attributor({ legacyTrustedExes: [NODE], maxNodes: 100 });
    const user = (node: string, serial: number, ses: number, sec = 1795926138): AuditRecord =>
      rec(`node=${node} type=USER msg=audit(${sec}.${String(serial % 1000).padStart(3, '0')}:${serial}): pid=1 uid=0 auid=4294967295 ses=${ses} msg='op=x res=success'`);
    for (let i = 1; i <= 20_000; i++) a.observeRecord(user(`n${i}x${'a'.repeat(40)}`, i + 1000, i));
    expect(a.tableSizes.nodes).toBe(100);
    expect(a.nodesForgotten).toBe(19_900);
    // the most recent node is still watched: its serial restarting low is a boot (here: it
    // ends its sessions' epochs, so a binding made before it no longer answers)
    const last = `n20000x${'a'.repeat(40)}`;
    a.observeRecord(rec(`node=${last} type=LOGIN msg=audit(1795926139.000:30000): pid=30637 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=7 res=1`));
    a.observeRecord(rec(`node=${last} type=VIRT_CONTROL msg=audit(1795926139.001:30001): pid=30630 uid=0 auid=4294967295 ses=4294967295 msg='virt=docker op=create vm="c9" uuid=? vm-pid=30637 vm-ses=7 contid=9 parent-contid=? ns=? node=? exe="${NODE}" hostname=? addr=? terminal=? res=success'`));
    expect(a.contidOfSession(7, -1, last)).toBe(9n);
    for (let s = 3; s <= 12; s++) a.observeRecord(user(last, s, 4294967295, 1795926200));
    expect(a.contidOfSession(7, -1, last)).toBeNull();
    expect(a.tableSizes.nodes).toBe(100);
  });

  // A live stream has a LOGIN per session: its epoch keeps the LOGIN's time and serial, not a
  // `TIME:SERIAL` string, and String() of the serial is not made (each lived in the session
  // table past young-generation collections). The stamp still matches when it is asked for.
  test('a LOGIN read from bytes leaves its serial unmade; its stamp still claims its own event', () => {
    const a = new Attributor({ legacyTrustedExes: [NODE], maxSessions: 100 });
    const line = Buffer.from('type=LOGIN msg=audit(1795926138.739:4711): pid=30637 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=77 res=1\n', 'latin1');
    const r = parseRecordBytes(line, 0, line.length - 1, 100)!;
    a.observeRecord(r);
    expect(explicitSerialText(r)).toBeNull();
    a.observeRecord(binding(77, 4712, 9));
    // an event of the LOGIN's own stamp placed before it in the input (ausearch --raw's order)
    expect(a.contidOfSession(77, 50, null, 1795926138739, '1795926138739:4711')).toBe(9n);
    expect(a.contidOfSession(77, 50, null, 1795926138739, '1795926138739:4710')).toBeNull();
    expect(a.lastEpoch(77, null)).toEqual({ start: 100, stamp: '1795926138739:4711' });
  });

  test('without bounds (search over a log) every session is kept', () => {
    const a = new Attributor({ legacyTrustedExes: [NODE] });
    for (let i = 0; i < 5000; i++) a.observeRecord(login(1000 + i, i));
    expect(a.tableSizes.sessions).toBe(5000);
  });
});

// What a long-lived table keeps must not be a piece of a log line: V8 keeps a substring of 13
// characters or more as a view of its whole line, so a signature (86 characters) remembered
// for duplicate detection held each binding's line — 65,536 of them in contid tail.
describe('attributor keeps no log line alive', () => {
  const heapAfterGc = (): number => {
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    return process.memoryUsage().heapUsed;
  };
  const SIGNER = ephemeralSigner('node-a');
  const trust = TrustStore.empty();
  trust.add(SIGNER.publicEntry);
  // A long record (a long exe path pads it here) with a signed binding in its msg='…' body.
  const PAD = '/x'.repeat(10_000);
  const signedBinding = (ses: number, serial: number, contid: bigint): AuditRecord => {
    const name = `some-long-container-name-${ses}`;
    const body = signLifecycle(
      { op: 'create', orchestrator: 'docker', name, runtimeId: 'f'.repeat(64), pid: 30637, session: ses, contid: parseContainerId(String(contid)), parent: null, namespaces: {}, idPrefix: null },
      SIGNER,
      '54f0d7e8a80944f09754f3cc4a654b57',
      1795926138743,
    );
    return rec(`type=VIRT_CONTROL msg=audit(1795926138.743:${serial}): pid=30630 uid=0 auid=4294967295 ses=4294967295 msg='${body} exe="${NODE}${PAD}" hostname=? addr=? terminal=? res=success'`);
  };

  test('2,000 bindings on 20 KB lines leave far less than their lines behind', () => {
    const a = new Attributor({ trust, maxSessions: 4000, maxContainers: 4000 });
    const before = heapAfterGc();
    for (let i = 0; i < 2000; i++) {
      a.observeRecord(login(1000 + i, 2 * i));
      a.observeRecord(signedBinding(1000 + i, 2 * i + 1, 5000n + BigInt(i)));
    }
    const kept = heapAfterGc() - before;
    expect(a.rejectedCount).toBe(0);
    expect(a.contidOfSession(1000 + 1999)).toBe(5000n + 1999n);
    // The lines weigh 2,000 × 20 KB = 40 MB; what the tables need is well under 4 MB.
    expect(kept).toBeLessThan(4 * 1024 * 1024);
  });
});

// Root in a container (CAP_AUDIT_WRITE, Docker's default) can send VIRT_CONTROL records signed
// with made-up key ids, as many as it likes: each is rejected as signed by an unknown key, and
// the table that names those keys for the reader must not grow with them in a long-running tail.
describe('unknown signing keys: the table is bounded, the counts stay exact', () => {
  const GENUINE = ephemeralSigner('node-b');
  const signed = (ses: number, serial: number): string => {
    const body = signLifecycle(
      { op: 'create', orchestrator: 'docker', name: `c${ses}`, runtimeId: null, pid: 30637, session: ses, contid: parseContainerId(String(5000 + ses)), parent: null, namespaces: {}, idPrefix: null },
      GENUINE,
      '54f0d7e8a80944f09754f3cc4a654b57',
      1795926138743,
    );
    return `node=node-b type=VIRT_CONTROL msg=audit(1795926138.743:${serial}): pid=30630 uid=0 auid=4294967295 ses=4294967295 msg='${body} exe="${NODE}" hostname=? addr=? terminal=? res=success'`;
  };
  // The attacker's records: a genuine record's text with the key id (and node) replaced.
  const template = signed(100, 1);
  const forged = (serial: number, k: number): AuditRecord =>
    rec(
      template
        .replace('1795926138.743:1)', `1795926138.743:${serial})`)
        .replace(/contid-key=[0-9a-f]+/, `contid-key=${k.toString(16).padStart(16, '0')}`)
        .replace(/node-b/g, `forged-${k}`),
    );

  test('20,000 bindings under made-up key ids: the genuine key of another node is still named with its exact count', () => {
    const a = new Attributor({ trust: TrustStore.empty() });
    let serial = 1;
    for (let i = 0; i < 20_000; i++) {
      a.observeRecord(forged(serial++, i));
      if (i % 200 === 0) a.observeRecord(rec(signed(100 + i, serial++)));
    }
    expect(a.rejectedBy.get('unknown-key')).toBe(20_100);
    const kept = [...a.unknownKeys.values()];
    expect(kept.length).toBeLessThanOrEqual(1024);
    expect(kept.length).toBeLessThanOrEqual(a.unknownKeys.max);
    const genuine = kept.find((k) => k.keyId === GENUINE.publicEntry.keyId);
    expect(genuine).toEqual({ node: 'node-b', keyId: GENUINE.publicEntry.keyId, count: 100 });
    // Nothing vanishes: what the table let go of is counted.
    expect(kept.reduce((n, k) => n + k.count, 0) + a.unknownKeys.shed.bindings).toBe(20_100);
    expect(a.unknownKeys.shed.keys).toBeGreaterThanOrEqual(20_001 - kept.length);
  });
});
