import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AusearchInterpreter, InterpretPipe, Reassembler, parseRecord, parseRecordBytes, type AuditEvent } from '@contid/audit';

// ausearch -i prints local time: the goldens' zone and locale
process.env.TZ = 'UTC';
process.env.LC_ALL = 'C.UTF-8';

const FIX = join(__dirname, 'fixtures');

/** Every fixture's lines, `copies` times, each copy a day later (so no event of one copy joins another's). */
function craftedLines(copies: number): string[] {
  const lines = readdirSync(FIX)
    .filter((f) => f.endsWith('.log'))
    .flatMap((f) => readFileSync(join(FIX, f), 'latin1').split('\n').filter((l) => l !== ''));
  const out: string[] = [];
  for (let k = 0; k < copies; k++) out.push(...lines.map((l) => l.replace(/msg=audit\((\d+)/, (_, s: string) => `msg=audit(${Number(s) + k * 86400}`)));
  return out;
}

function eventsOf(lines: string[], bytes: boolean): AuditEvent[] {
  const r = new Reassembler();
  const out: AuditEvent[] = [];
  const push = (rec: ReturnType<typeof parseRecord>): void => void (rec && out.push(...r.push(rec)));
  if (bytes) {
    // records pointing at the bytes read, as the full scan makes them
    const buf = Buffer.from(lines.join('\n') + '\n', 'latin1');
    for (let s = 0, e = buf.indexOf(10); e >= 0; s = e + 1, e = buf.indexOf(10, s)) push(parseRecordBytes(buf, s, e, s));
  } else for (const l of lines) push(parseRecord(l));
  return [...out, ...r.flush()];
}

/** What the pipe wrote to a file, and whether a second thread did the interpreting. */
function throughPipe(events: AuditEvent[], lineOf: (i: number) => string, threads: boolean, prestartBytes = 0): { text: string; threaded: boolean } {
  const dir = mkdtempSync(join(tmpdir(), 'contid-pipe-'));
  try {
    const file = join(dir, 'out');
    const fd = openSync(file, 'w');
    const pipe = new InterpretPipe(() => {
      throw new Error('closed');
    }, fd, threads);
    try {
      pipe.prestart(prestartBytes);
      events.forEach((e, i) => pipe.event(e, lineOf(i)));
      pipe.finish();
    } finally {
      pipe.close();
      closeSync(fd);
    }
    return { text: readFileSync(file, 'utf8'), threaded: pipe.threaded };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('search --format interpret on a second thread: the same bytes as on one', () => {
  // about 3 MB: several batches (1 MB each), lines that change between events (indexed per batch)
  const lines = craftedLines(3);
  const lineOf = (i: number): string => (i % 3 === 0 ? '----\n' : `---- container=c-${i % 7} contid=${1000 + (i % 7)} orchestrator=docker\n`);

  it.each([false, true])('records from strings or from bytes (bytes: %s)', (bytes) => {
    const events = eventsOf(lines, bytes);
    const reference = AusearchInterpreter.open()!;
    const expected = events.map((e, i) => lineOf(i) + reference.event(e)).join('');
    expect(expected.length).toBeGreaterThan(2 << 20);
    const out = throughPipe(events, lineOf, true);
    expect(out.threaded).toBe(true);
    expect(out.text).toBe(expected);
  });

  it('one event bigger than a batch, between small ones, and the same on one thread', () => {
    const big = Array.from({ length: 3000 }, (_, i) => `type=PATH msg=audit(1795000000.000:77): item=${i} name="/usr/lib/${'x'.repeat(400)}" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL`);
    const all = [...lines.slice(0, 4000), 'type=SYSCALL msg=audit(1795000000.000:77): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=3000 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/x" key=(null)', ...big];
    const events = eventsOf(all, true);
    const reference = AusearchInterpreter.open()!;
    const expected = events.map((e, i) => lineOf(i) + reference.event(e)).join('');
    const threaded = throughPipe(events, lineOf, true);
    expect(threaded.threaded).toBe(true);
    expect(threaded.text).toBe(expected);
    const single = throughPipe(events, lineOf, false);
    expect(single.threaded).toBe(false);
    expect(single.text).toBe(expected);
  });

  it('a worker started before the first event (a big input) prints the same, small answer or none; a small input starts none', () => {
    const reference = AusearchInterpreter.open()!;
    for (const n of [0, 50, 5000]) {
      const events = eventsOf(lines.slice(0, n), true);
      const early = throughPipe(events, lineOf, true, 1 << 30);
      expect(early.threaded).toBe(true);
      expect(early.text).toBe(events.map((e, i) => lineOf(i) + reference.event(e)).join(''));
    }
    const events = eventsOf(lines.slice(0, 50), true);
    expect(throughPipe(events, lineOf, true, 1 << 20).threaded).toBe(false);
    expect(throughPipe(events, lineOf, false, 1 << 30).threaded).toBe(false);
  });

  it('repeated records through the pipe print what libauparse asked for every field prints', () => {
    // repeats (the whole-record memo hits), texts a byte apart, the same text under two record
    // types, a type libaudit has no name for, parentheses in the text, no ')' at all
    const texts = [
      'item=0 name="/usr/bin/cat" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
      'item=0 name="/usr/bin/cas" inode=1 dev=fe:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
      'item=0 name="/usr/bin/cat" inode=1 dev=fe:00 mode=0100755 ouid=1 ogid=0 rdev=00:00 nametype=NORMAL',
      'cwd="/srv/(app)"',
      'proctitle=636174002F6574632F706173737764',
      'proctitle=636174002F6574632F706173737765',
    ];
    const all: string[] = [];
    let serial = 1;
    for (let round = 0; round < 300; round++) {
      const t = texts[round % texts.length];
      const time = `msg=audit(1795000${String(100 + round).padStart(3, '0')}.000:${serial}):`;
      all.push(`type=PATH ${time} ${t}`, `type=CWD ${time} ${t}`, `type=UNKNOWN[1999] ${time} ${t}`, `type=PROCTITLE ${time} ${t}`);
      if (round % 50 === 0) all.push(`type=PATH msg=audit(1795000${String(100 + round).padStart(3, '0')}.000:${serial} ${t}`);
      serial++;
    }
    const events = eventsOf(all, true);
    const asked = AusearchInterpreter.open({ memo: false })!;
    const expected = events.map((e, i) => lineOf(i) + asked.event(e)).join('');
    for (const threads of [false, true]) expect(throughPipe(events, lineOf, threads, threads ? 1 << 30 : 0).text).toBe(expected);
  });

  it('a small answer is interpreted without a second thread', () => {
    const events = eventsOf(lines.slice(0, 50), false);
    const reference = AusearchInterpreter.open()!;
    const out = throughPipe(events, lineOf, true);
    expect(out.threaded).toBe(false);
    expect(out.text).toBe(events.map((e, i) => lineOf(i) + reference.event(e)).join(''));
  });
});
