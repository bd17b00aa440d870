import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditEvent, AuditRecord, Reassembler, parseRecord } from '@contid/audit';

/**
 * ausearch 3.0.9's event model (src/ausearch-lol.c), one case per rule. Every expectation
 * was checked against `ausearch -if FILE` on the same lines (scripts/golden/check-reassembly.js
 * prints them); the golden corpus (golden.test.ts) checks the same on whole logs.
 */
const rec = (type: string, stamp: string, rest = 'a=1'): AuditRecord => {
  const r = parseRecord(`type=${type} msg=audit(${stamp}): ${rest}`);
  if (!r) throw new Error(`does not parse: ${type} ${stamp}`);
  return r;
};
const shape = (evs: AuditEvent[]): string[] => evs.map((e) => `${e.serialText ?? String(e.serial)}:${e.records.map((r) => r.type).join(',')}`);

function run(records: AuditRecord[], timeoutMs?: number): string[] {
  const r = new Reassembler({ timeoutMs });
  return shape([...records.flatMap((x) => r.push(x)), ...r.flush()]);
}

/** Shared with the ausearch check script (the file says its layout). */
const TABLE = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'reassembly-cases.json'), 'utf8')) as {
  rests: Record<string, string>;
  cases: [string, [string, string][], string[]][];
};
const caseLine = ([type, stamp]: [string, string]): string => `type=${type} msg=audit(${stamp}${stamp.includes(')') ? '' : `): ${TABLE.rests[type] ?? 'a=1'}`}`;

describe('Reassembler: ausearch 3.0.9 event model', () => {
  it.each(TABLE.cases)('%s', (_name, lines, expected) => {
    expect(run(lines.map((l) => parseRecord(caseLine(l))!))).toEqual(expected);
  });

  it('serials above 2^53 stay exact and distinct', () => {
    const out = new Reassembler();
    const evs = [rec('SYSCALL', '10.000:9007199254740993'), rec('SYSCALL', '10.000:9007199254740992')].flatMap((r) => out.push(r));
    expect([...evs, ...out.flush()].map((e) => e.serialText)).toEqual(['9007199254740992', '9007199254740993']);
  });

  it('nodes keep equal stamps apart', () => {
    const a = parseRecord('node=a type=SYSCALL msg=audit(10.000:1): x=1')!;
    const b = parseRecord('node=b type=SYSCALL msg=audit(10.000:1): x=2')!;
    expect(run([a, b]).length).toBe(2);
  });

  it('live streams (clock): PROCTITLE and EOE end an event at once, time-outs go by the clock, per event', () => {
    let now = 0;
    const r = new Reassembler({ timeoutMs: 500, clock: () => now });
    expect(r.push(rec('SYSCALL', '10.000:1'))).toEqual([]);
    expect(shape(r.push(rec('PROCTITLE', '10.000:1')))).toEqual(['1:SYSCALL,PROCTITLE']);
    expect(r.push(rec('EOE', '10.000:1'))).toEqual([]);
    expect(r.push(rec('SYSCALL', '99.000:2'))).toEqual([]);
    now = 400;
    expect(r.push(rec('SYSCALL', '5.000:3'))).toEqual([]);
    now = 600;
    expect(shape(r.tick())).toEqual(['2:SYSCALL']);
    now = 900;
    expect(shape(r.tick())).toEqual(['3:SYSCALL']);
  });

  it('memory stays bounded on endless unterminated events', () => {
    const r = new Reassembler({ maxOpen: 100 });
    let out = 0;
    for (let i = 0; i < 10_000; i++) out += r.push(rec('SYSCALL', `10.000:${i}`)).length;
    expect(out).toBeGreaterThan(9000);
  });
});
