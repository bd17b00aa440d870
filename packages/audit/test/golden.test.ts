import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readCsvLine, unguarded } from '../../../test/helpers/csv';
import { AuditEvent, AusearchInterpreter, FormatOptions, Reassembler, bytesToText, csvHeaderRow, formatAuditEvent, libauparseAvailable, parseRecord } from '@contid/audit';

// The goldens were written by ausearch 3.0.9 in UTC and C.UTF-8 (scripts/golden/regenerate.sh).
process.env.TZ = 'UTC';
process.env.LC_ALL = 'C.UTF-8';

const FIX = join(__dirname, 'fixtures');
const logs = readdirSync(FIX).filter((f) => /^golden-.*\.log$/.test(f));

function eventsOf(file: string): AuditEvent[] {
  const r = new Reassembler();
  const out: AuditEvent[] = [];
  for (const line of readFileSync(join(FIX, file), 'latin1').split('\n')) {
    const rec = line ? parseRecord(line) : null;
    if (rec) out.push(...r.push(rec));
  }
  return [...out, ...r.flush()];
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number): string => String(n).padStart(2, '0');
/** C's ctime() in UTC: what ausearch prints on its time-> line. */
function ctime(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** ausearch's default layout (newest record first; a DAEMON_* last record alone): shows its grouping and order. */
function ausearchLayout(e: AuditEvent): string {
  const last = e.records[e.records.length - 1];
  const shown = last.typeNumber !== null && last.typeNumber >= 1200 && last.typeNumber < 1300 ? [last] : [...e.records].reverse();
  return `----\ntime->${ctime(e.timeMs)}\n${shown.map((r) => `${bytesToText(r.raw, { escapeControls: true })}\n`).join('')}`;
}

describe('golden corpus: contid equals ausearch 3.0.9 (no root, no ausearch needed)', () => {
  it('has fixtures', () => expect(logs.length).toBeGreaterThanOrEqual(4));

  it.each(logs)('%s: events (grouping, order, EOE) equal ausearch -if', (file) => {
    const golden = readFileSync(join(FIX, file.replace(/\.log$/, '.events.golden')), 'latin1');
    expect(eventsOf(file).map(ausearchLayout).join('')).toBe(golden);
  });

  it.each(logs)('%s: --format interpret equals ausearch -i', (file) => {
    expect(libauparseAvailable()).toBe(true); // scripts/setup-host.sh installs libauparse0
    const golden = readFileSync(join(FIX, file.replace(/\.log$/, '.interpret.golden')), 'utf8');
    expect(eventsOf(file).map((e) => formatAuditEvent('interpret', e, [])).join('')).toBe(golden);
  });

  // every fixture, the raw and enriched session logs too: the memo never changes a byte
  const allLogs = readdirSync(FIX).filter((f) => f.endsWith('.log'));
  it.each(allLogs)('%s: interpret with the memo equals libauparse asked for every field', (file) => {
    const memo = AusearchInterpreter.open()!;
    const asked = AusearchInterpreter.open({ memo: false })!;
    const events = eventsOf(file);
    // twice through the memoised one: the second pass is all memo hits
    const once = events.map((e) => asked.event(e)).join('');
    expect(events.map((e) => memo.event(e)).join('')).toBe(once);
    expect(events.map((e) => memo.event(e)).join('')).toBe(once);
  });

  it.each(logs)('%s: --format text equals ausearch --format text (libauparse normalizer)', (file) => {
    const golden = readFileSync(join(FIX, file.replace(/\.log$/, '.text.golden')), 'utf8');
    expect(eventsOf(file).map((e) => formatAuditEvent('text', e, [])).join('')).toBe(golden);
  });

  const EXTRA: FormatOptions = { csv: { keys: true, labels: true, obj2: true, time: true } };
  /**
   * ausearch prints cells as they are; contid quotes a cell with a comma, quote or semicolon
   * and guards one a spreadsheet would run as a formula (csv-cell.ts). So: every row in which
   * no cell needs that is byte for byte ausearch's, and every other row, read back by an
   * RFC 4180 reader with the guard removed, is ausearch's row (whose commas split it).
   */
  it.each(logs.flatMap((f) => [[f, 'csv', {}], [f, 'csv-extra', EXTRA]] as const))('%s: --format %s equals ausearch (header row first) where cells are benign, and its text where not', (file, golden, options) => {
    const expected = readFileSync(join(FIX, file.replace(/\.log$/, `.${golden}.golden`)), 'utf8').split('\n');
    const errors: string[] = [];
    const rows = eventsOf(file).map((e) => formatAuditEvent('csv', e, [], { ...options, onNormalizeError: (line) => errors.push(`${line}\n`) }));
    const mine = (csvHeaderRow(options) + rows.join('')).split('\n');
    expect(mine).toHaveLength(expected.length);
    const columns = readCsvLine(mine[0]).length;
    const treated = mine.filter((row, i) => {
      if (row === expected[i]) return false;
      const cells = readCsvLine(row);
      expect(cells).toHaveLength(columns);
      expect(cells.map(unguarded).join(',')).toBe(expected[i]);
      return true;
    });
    // the rows that differ are exactly those whose cells need quoting or a guard
    expect(treated.every((row) => row.includes('"'))).toBe(true);
    if (file === 'golden-shapes.log') expect(treated).toEqual([expect.stringContaining(',typed,,"""ls -la"",<ret>",')]);
    // ausearch's stderr lines, the same ones
    expect(errors.join('')).toBe(readFileSync(join(FIX, file.replace(/\.log$/, `.${golden}.stderr.golden`)), 'utf8'));
  });
});
