import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry, TrustStore, ephemeralSigner, formatContainerId, parseContainerId, signLifecycle, type ContainerId } from '@contid/core';
import { LivePipeline } from '../src/live/pipeline';
import { LineBlock } from '../src/live/line-splitter';
import { Reassembler } from '../src/reassembler';
import { parseRecordBytes, recordRawBytes } from '../src/record';

// Record shapes as this machine's kernel and auditd write them (session 960, contid 13957717679680).
const NODE = '/usr/bin/node';
// The kernel logs a renewal as LOGIN + the write's SYSCALL + PROCTITLE under one serial;
// like ausearch, the LOGIN is an event of its own and the SYSCALL another.
const login = (ses: number, serial: number) => [
  `type=LOGIN msg=audit(1795926138.739:${serial}): pid=30637 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`,
  `type=SYSCALL msg=audit(1795926138.739:${serial}): arch=c000003e syscall=1 success=yes exit=1 a0=16 a1=7ffe95371a28 a2=1 a3=1b6 items=0 ppid=30630 pid=30637 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="node" exe="/usr/bin/node" key=(null)`,
  `type=PROCTITLE msg=audit(1795926138.739:${serial}): proctitle=6E6F6465`,
];
const execve = (ses: number, serial: number, arg: string) => [
  `type=SYSCALL msg=audit(1795926138.740:${serial}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=2 ppid=30630 pid=30637 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="sh" exe="/usr/bin/dash" key="k1"`,
  `type=EXECVE msg=audit(1795926138.740:${serial}): argc=2 a0="/bin/echo" a1="${arg}"`,
  `type=PROCTITLE msg=audit(1795926138.740:${serial}): proctitle=2F62696E2F6563686F`,
];
// Bindings signed by this node's key (in memory), as contid writes them.
const SIGNER = ephemeralSigner('node-a');
const trust = TrustStore.empty();
trust.add(SIGNER.publicEntry);
const binding = (ses: number, serial: number, name: string, contid: string, signer = SIGNER) => {
  const text = signLifecycle(
    { op: 'create', orchestrator: 'docker', name, runtimeId: null, pid: 30637, session: ses, contid: parseContainerId(contid), parent: null, namespaces: {}, idPrefix: null },
    signer,
    '54f0d7e8a80944f09754f3cc4a654b57',
    1795926138743,
  );
  return `type=VIRT_CONTROL msg=audit(1795926138.743:${serial}): pid=30630 uid=0 auid=4294967295 ses=4294967295 msg='${text} exe="${NODE}" hostname=? addr=? terminal=? res=success'`;
};

interface Json {
  serial: number;
  container: { name: string } | null;
}
const events = (text: string): Json[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Json);

describe('live pipeline (search API + what only a live stream needs)', () => {
  test('events before their binding record wait for it and go out attributed, in order', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'json', trust, filter: { container: 'web' } }, () => now);
    let out = String(p.push([...login(960, 1), ...execve(960, 2, 'one'), ...execve(960, 3, 'two')]));
    expect(out).toBe(''); // held: session 960 was just allocated and is not bound yet
    now += 300;
    out += String(p.push([binding(960, 4, 'web', '13957717679680'), ...execve(960, 5, 'three')]));
    expect(events(out).map((e) => [e.serial, e.container?.name])).toEqual([
      [1, 'web'],
      [1, 'web'],
      [2, 'web'],
      [3, 'web'],
      [5, 'web'],
    ]);
  });

  test('a forged binding is ignored and counted; held events go out unattributed after the grace', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'json', trust, bindingGraceMs: 500 }, () => now);
    let out = String(p.push([...login(961, 10), ...execve(961, 11, 'x'), binding(961, 12, 'evil', '42', ephemeralSigner('node-a'))]));
    expect(p.attributor.rejectedCount).toBe(1);
    expect(events(out).map((e) => e.serial)).toEqual([12]); // the forged record itself (sender ses unset)
    now += 600;
    out = String(p.expire());
    expect(events(out).map((e) => [e.serial, e.container])).toEqual([
      [10, null],
      [10, null],
      [11, null],
    ]);
  });

  test('a session bound before the stream started is found in the registry', () => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-live-pipeline-'));
    try {
      const registry = Registry.open(dir);
      const c = registry.registerContainer({ orchestrator: 'contid', name: 'db', session: 962 }, { session: 962, pid: 1, op: 'create', detail: {} });
      const p = new LivePipeline({ format: 'json', trust, registry });
      const got = events(String(p.push(execve(962, 20, 'y'))) + String(p.flush()));
      expect(got).toEqual([expect.objectContaining({ serial: 20, container: expect.objectContaining({ name: 'db', contid: formatContainerId(c.contid) }) })]);
      registry.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the registry is asked once per session (a miss is remembered), not once per event', () => {
    let asked = 0;
    const registry = {
      get: () => undefined,
      containerOfSession: () => {
        asked++;
        return undefined;
      },
    };
    const p = new LivePipeline({ format: 'json', trust, registry }, () => 1000);
    const lines = [];
    for (let i = 0; i < 50; i++) lines.push(...execve(970 + (i % 5), 100 + i, `e${i}`));
    expect(events(String(p.push(lines))).length).toBe(50);
    expect(asked).toBe(5);
  });

  test('a container a binding names is asked of the registry once, its image and labels still in the output', () => {
    const asked: string[] = [];
    const registry = {
      get: (contid: ContainerId) => {
        asked.push(formatContainerId(contid));
        return { contid, name: 'web', orchestrator: 'docker', runtimeId: null, parent: null, image: 'nginx:1', labels: { app: 'web' } };
      },
      containerOfSession: () => undefined,
    };
    const p = new LivePipeline({ format: 'json', trust, registry }, () => 1000);
    const out = events(String(p.push([...login(964, 40), binding(964, 41, 'web', '13957717679681'), ...execve(964, 42, 'a'), ...execve(964, 43, 'b')])));
    const execs = out.filter((e) => e.serial === 42 || e.serial === 43) as unknown as { container: { name: string; image: string; labels: Record<string, string> } }[];
    expect(execs.map((e) => [e.container.name, e.container.image, e.container.labels])).toEqual([
      ['web', 'nginx:1', { app: 'web' }],
      ['web', 'nginx:1', { app: 'web' }],
    ]);
    expect(asked).toEqual(['13957717679681']);
  });

  test('an unbound session waits only within the grace after its LOGIN, then its events flow at once', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'json', trust, bindingGraceMs: 500 }, () => now);
    expect(String(p.push([...login(963, 30), ...execve(963, 31, 'a')]))).toBe('');
    expect(p.held).toBe(3); // the LOGIN (an event of its own), its SYSCALL+PROCTITLE, the execve
    now += 501;
    expect(events(String(p.push(execve(963, 32, 'b')))).map((e) => e.serial)).toEqual([30, 30, 31, 32]);
    expect(events(String(p.push(execve(963, 33, 'c')))).map((e) => e.serial)).toEqual([33]);
    expect(p.held).toBe(0);
  });

  test('a flood of new sessions keeps the pipeline bounded: held events, sessions and containers', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'raw', trust, maxPending: 100, maxSessions: 500, maxContainers: 50 }, () => now);
    for (let i = 0; i < 5000; i++) {
      const lines = [...login(10_000 + i, 10 * i)];
      if (i % 10 === 0) lines.push(binding(10_000 + i, 10 * i + 1, `c${i}`, String(13957717679680 + i)), ...execve(10_000 + i, 10 * i + 2, 'x'));
      String(p.push(lines));
      now += 1;
    }
    expect(p.held).toBeLessThanOrEqual(100);
    expect(p.attributor.tableSizes.sessions).toBeLessThanOrEqual(500);
    expect(p.attributor.tableSizes.containers).toBeLessThanOrEqual(50);
  });

  // Held events share slabs of bytes (no Buffer per event) and a chain per session (no array):
  // events let go by their binding (out of order), by their grace, and by the bound, small
  // ones and ones over half a slab, must come out exactly as they went in, each once.
  test('held events let go in every order come out as they went in, each once', () => {
    let now = 1000;
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const p = new LivePipeline({ format: 'raw', trust, maxPending: 60, bindingGraceMs: 200 }, () => now);
    const input: string[] = [];
    let out = '';
    const unbound: number[] = [];
    let serial = 1;
    for (let i = 0; i < 400; i++) {
      const ses = 20_000 + i;
      const lines = [...login(ses, serial++), ...execve(ses, serial++, 'x'.repeat(rnd(3) === 0 ? 4000 + rnd(9000) : rnd(200)))];
      unbound.push(ses);
      // some sessions get their binding a little later, in any order
      if (rnd(3) === 0) {
        const k = rnd(unbound.length);
        const bound = unbound.splice(k, 1)[0];
        lines.push(binding(bound, serial++, `c${bound}`, String(13957717679680 + bound)));
      }
      input.push(...lines);
      out += String(p.push(lines));
      now += rnd(5);
    }
    now += 1000;
    out += String(p.expire()) + String(p.flush());
    expect(p.releasedEarly).toBeGreaterThan(0);
    expect(p.held).toBe(0);
    expect(out.split('\n').filter(Boolean).sort()).toEqual([...input].sort());
  });

  // A replay of short sessions holds nearly every event it reads for the grace (2 s): what a
  // held event costs on the V8 heap was one object (and a boxed time) each, copied by young
  // collections and promoted. Its lines are outside the heap (slabs).
  test('a held event costs the V8 heap no object of its own', () => {
    const heapAfterGc = (): number => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const holdMany = (p: LivePipeline): void => {
      let serial = 1;
      for (let s = 0; s < 200; s++) {
        const ses = 50_000 + s;
        const lines = [...login(ses, serial++)];
        for (let e = 0; e < 100; e++) lines.push(...execve(ses, serial++, 'a'));
        String(p.push(lines));
      }
    };
    const options = { format: 'raw' as const, trust, maxPending: 100_000 };
    const warm = new LivePipeline(options, () => 1000);
    holdMany(warm); // the code compiled before measuring (the first pipeline kept alive throughout)
    const before = heapAfterGc();
    const p = new LivePipeline(options, () => 1000);
    holdMany(p);
    const kept = heapAfterGc() - before;
    expect(warm.held).toBe(p.held);
    expect(p.held).toBeGreaterThanOrEqual(20_000);
    expect(kept / p.held).toBeLessThan(64);
  });

  // The held queue is columns indexed by slot, compacted once most of it went out: the
  // sessions still holding events across a compaction have their chains renumbered, and a
  // binding coming after it must let go of exactly its session's events.
  test('held events across the held queue compactions: each goes out once, its binding still finds it', () => {
    let now = 1000;
    let seed = 11;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const p = new LivePipeline({ format: 'raw', trust, maxPending: 50_000, bindingGraceMs: 300 }, () => now);
    const input: string[] = [];
    let out = '';
    const unbound: number[] = [];
    const boundAt = new Map<number, number>();
    let serial = 1;
    for (let i = 0; i < 12_000; i++) {
      const ses = 40_000 + i;
      const lines = [...login(ses, serial++), ...execve(ses, serial++, 'y'.repeat(rnd(50)))];
      unbound.push(ses);
      // more events of a session held a while (chains that grow across a compaction)
      if (rnd(5) === 0 && unbound.length > 40) lines.push(...execve(unbound[unbound.length - 1 - rnd(40)], serial++, 'z'));
      // bindings come late, for sessions held a while (some of them held before a compaction)
      if (rnd(10) === 0 && unbound.length > 40) {
        const bound = unbound.splice(unbound.length - 1 - rnd(40), 1)[0];
        boundAt.set(bound, serial);
        lines.push(binding(bound, serial++, `c${bound}`, String(13957717679680 + bound)));
      }
      input.push(...lines);
      out += String(p.push(lines));
      now += rnd(3) === 0 ? 1 : 0;
      if (i % 500 === 0) out += String(p.expire());
    }
    now += 1000;
    do out += String(p.expire());
    while (p.more());
    out += String(p.flush());
    expect(p.held).toBe(0);
    expect(p.heldBytes).toBe(0);
    expect(p.releasedEarly).toBe(0);
    const outLines = out.split('\n').filter(Boolean);
    expect(outLines.length).toBe(input.length);
    expect([...outLines].sort()).toEqual([...input].sort());
    // a binding lets go of its session's held events at once: all of them before its own line
    const lastOf = new Map<number, number>();
    const bindingLine = new Map<number, number>();
    outLines.forEach((l, at) => {
      const ses = /^type=SYSCALL .* ses=(\d+) /.exec(l);
      if (ses) lastOf.set(Number(ses[1]), at);
      const bindingSerial = /^type=VIRT_CONTROL msg=audit\([0-9.]+:(\d+)\)/.exec(l);
      if (bindingSerial) bindingLine.set(Number(bindingSerial[1]), at);
    });
    expect(boundAt.size).toBeGreaterThan(500);
    for (const [ses, bindingSerial] of boundAt) expect([ses, lastOf.get(ses)! < bindingLine.get(bindingSerial)!]).toEqual([ses, true]);
  });

  // An unprivileged user with an unset loginuid allocates a session at will (a LOGIN: its
  // events wait for a binding), then execs with a long argv: the kernel logs it as EXECVE
  // records of about 8 KB each, 32 of them here. The count bound (10,000 held events) would
  // let such events keep gigabytes; the bytes they keep are bounded too, and every event
  // sent before its wait was over is counted and reported, none dropped.
  test('held events are bounded by bytes too: huge events from fresh sessions cannot grow memory, and every one still goes out', () => {
    const heapAfterGc = (): number => {
      setFlagsFromString('--expose-gc');
      (runInNewContext('gc') as () => void)();
      return process.memoryUsage().heapUsed;
    };
    const hugeExec = (ses: number, serial: number): string[] => {
      const stamp = `1795926138.740:${serial}`;
      const lines = [
        `type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=2 ppid=30630 pid=30637 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=${ses} comm="sh" exe="/usr/bin/dash" key="k1"`,
        `type=EXECVE msg=audit(${stamp}): argc=2 a0="/bin/echo" a1_len=${32 * 4000}`,
      ];
      for (let i = 0; i < 32; i++) lines.push(`type=EXECVE msg=audit(${stamp}): a1[${i}]=${(ses.toString(16) + 'A').repeat(8000).slice(0, 8000)}`);
      lines.push(`type=EOE msg=audit(${stamp}): `);
      return lines;
    };
    let now = 1000;
    const p = new LivePipeline({ format: 'raw', trust }, () => now);
    const before = heapAfterGc();
    let out = '';
    let outEvents = 0;
    const count = (text: string): void => void (outEvents += text.split('\n').filter((l) => l.startsWith('type=SYSCALL')).length);
    for (let i = 0; i < 200; i++) {
      count((out = String(p.push([...login(20_000 + i, 3 * i), ...hugeExec(20_000 + i, 3 * i + 1)]))));
      out = '';
    }
    const kept = heapAfterGc() - before;
    // 200 events of 256 KB each are 51 MB of lines; what waits is bounded well below that.
    expect(kept).toBeLessThan(16 * 1024 * 1024);
    expect(p.heldBytes).toBeLessThanOrEqual(p.maxHeldBytes);
    const early = p.releasedEarly;
    expect(early).toBeGreaterThan(0);
    now += 10_000;
    // what is due comes out a bounded text at a time (as LiveTail asks: while more())
    let calls = 0;
    do {
      const text = String(p.expire());
      expect(text.length).toBeLessThan(2 * 1024 * 1024);
      count(text);
      calls++;
    } while (p.more());
    expect(calls).toBeGreaterThan(1);
    // every exec went out: those sent early are counted, none dropped
    expect(outEvents).toBe(400); // each LOGIN event carries a SYSCALL too
    expect(p.held).toBe(0);
    expect(out).toBe('');
  });

  // A grace period ending lets thousands of held events go at once (a replay's end, a burst
  // of fresh sessions): each call's output is gathered in one buffer that doubles from 64 KB,
  // and the bounded text it hands on must not have doubled it past that bound (a 2 MB
  // buffer for 1 MB of text was the peak RSS of the 50,000-session replay).
  test('held events let go at their grace come out in buffers of at most 1 MB', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'json', trust }, () => now);
    for (let i = 0; i < 4000; i++) String(p.push([...login(30_000 + i, 2 * i), ...execve(30_000 + i, 2 * i + 1, 'x'.repeat(i % 300))]));
    const held = p.held;
    expect(held).toBeGreaterThan(4000);
    now += 10_000;
    const sizes: number[] = [];
    let events = 0;
    do {
      const out = p.expire();
      sizes.push(out.buffer.byteLength);
      events += out.toString('latin1').split('\n').filter(Boolean).length;
    } while (p.more());
    expect(events).toBe(held);
    expect(sizes.length).toBeGreaterThan(2);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1 << 20);
  });

  // Session numbers start again at each boot: a log replayed across a reboot, or a collector
  // relaying a node's backlog after an outage that spanned one, brings an unbound session S of
  // the old boot and the new boot's S (a container this time) within one grace. The old S's
  // events wait for a binding of their own LOGIN; the new S's binding is not theirs.
  test('a held event of a session whose number a new LOGIN allocated again is not given the new binding', () => {
    let now = 1000;
    const p = new LivePipeline({ format: 'json', trust }, () => now);
    const eoe = (serial: number) => `type=EOE msg=audit(1795926138.740:${serial}): `;
    // the old boot: session 3 allocated, an exec, no binding (a login shell)
    let out = String(p.push([...login(3, 5000), eoe(5000), ...execve(3, 5001, 'old-boot'), eoe(5001)]));
    expect(out).toBe(''); // held: its binding may still come
    // the node boots again (serials count from low), allocates 3 again and binds it to a container
    const later = (lines: string[]) => lines.map((l) => l.replace('msg=audit(1795926138.', 'msg=audit(1795926200.'));
    const again = later([...login(1, 20), eoe(20), ...login(2, 21), eoe(21), ...login(3, 22), eoe(22), binding(3, 23, 'web', '13957717679680'), ...execve(3, 24, 'new-boot'), eoe(24)]);
    out += String(p.push(again));
    now += 3000;
    out += String(p.expire());
    out += String(p.flush());
    const containerOf = (serial: number) => events(out).filter((e) => e.serial === serial).map((e) => e.container?.name ?? null);
    expect(containerOf(5000)).toEqual([null, null]); // the old allocation's LOGIN event
    expect(containerOf(5001)).toEqual([null]);
    expect(containerOf(24)).toEqual(['web']);
  });

  test('lines handed in as blocks of bytes (the plugin source) give the output the same lines as strings give', () => {
    // held, bound, and an event cut across two blocks (its records wait for the next block)
    const lines = [...login(960, 1), ...execve(960, 2, 'one'), 'not a record', binding(960, 4, 'web', '13957717679680'), ...execve(960, 5, 'two'), ...login(961, 6), ...execve(961, 7, 'x'), '', ...execve(962, 8, 'late')];
    const run = (feed: (p: LivePipeline) => string): string => {
      const p = new LivePipeline({ format: 'json', trust }, () => 1000);
      return feed(p) + String(p.flush());
    };
    const asStrings = run((p) => String(p.push(lines)));
    for (let cut = 1; cut < lines.length; cut++) {
      const block = (ls: string[]) => new LineBlock(Buffer.from(ls.map((l) => l + '\n').join(''), 'latin1'), ls.length);
      const asBlocks = run((p) => String(p.push([block(lines.slice(0, cut))])) + String(p.push([block(lines.slice(cut))])));
      expect(asBlocks).toBe(asStrings);
    }
  });

  test('records of an event still open do not keep the block they were read from (they get their own text)', () => {
    const r = new Reassembler({ clock: () => 0, noteOpened: true });
    const buf = Buffer.from([...execve(960, 2, 'one').slice(0, 2), ...login(961, 3).slice(1, 2)].join('\n') + '\n', 'latin1');
    const recs = [];
    for (let start = 0, nl = buf.indexOf(10); nl >= 0; start = nl + 1, nl = buf.indexOf(10, start)) recs.push(parseRecordBytes(buf, start, nl, -1)!);
    for (const rec of recs) expect(r.push(rec)).toEqual([]);
    expect(recs.every((rec) => recordRawBytes(rec) !== null)).toBe(true);
    r.detachOpened();
    expect(recs.map((rec) => recordRawBytes(rec))).toEqual([null, null, null]);
    expect(recs[1].raw).toBe(execve(960, 2, 'one')[1]);
  });

  test('lines that are not audit records are counted, not fatal', () => {
    const p = new LivePipeline({ format: 'raw' });
    expect(String(p.push(['garbage', '\x00\x01', 'type=USER msg=audit(1795926138.739:2): pid=1 uid=0 auid=0 ses=1 msg=\'x=1\'']))).toContain('type=USER');
    expect(p.skipped).toBe(2);
  });
});
