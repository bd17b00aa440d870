import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LivePipeline, TAIL_FORMATS } from '@contid/audit';
import { readCsvLine, unguarded } from '../../../test/helpers/csv';

// The goldens were written by ausearch 3.0.9 in UTC and C.UTF-8 (scripts/golden/regenerate.sh).
process.env.TZ = 'UTC';
process.env.LC_ALL = 'C.UTF-8';

const FIX = join(__dirname, 'fixtures');
const LOGS = ['golden-shapes.log', 'golden-local-nodes.log', 'golden-local-enriched.log'];

/** The log fed to a live pipeline as auditd's plugin stream would feed it, then flushed. */
function tail(file: string, format: 'text' | 'csv', errors: string[] = []): string {
  const lines = readFileSync(join(FIX, file), 'latin1').split('\n').filter(Boolean);
  const pipeline = new LivePipeline({ format, formatOptions: { csv: { container: true }, onNormalizeError: (l) => errors.push(`${l}\n`) } }, () => 0);
  return pipeline.push(lines) + pipeline.flush();
}

const golden = (file: string, kind: string): string => readFileSync(join(FIX, file.replace(/\.log$/, `.${kind}.golden`)), 'utf8');

describe('contid tail --format text and csv: the normalizer path of search, as ausearch prints them', () => {
  it('are tail formats', () => expect(TAIL_FORMATS).toEqual(expect.arrayContaining(['text', 'csv'])));

  // A live stream holds a freshly logged-in session's events until its binding may have come
  // (pipeline.ts), so they come out later than ausearch prints them: the same lines, sorted.
  const sorted = (lines: string[]): string[] => [...lines].sort();

  it.each(LOGS)('%s: text equals ausearch --format text (line for line)', (file) => {
    expect(sorted(tail(file, 'text').split('\n'))).toEqual(sorted(golden(file, 'text').split('\n')));
  });

  it.each(LOGS)('%s: csv is ausearch\'s header and rows (read back) with the container columns, and its stderr lines', (file) => {
    const errors: string[] = [];
    const [header, ...rows] = tail(file, 'csv', errors).slice(0, -1).split('\n');
    const [theirHeader, ...theirRows] = golden(file, 'csv').slice(0, -1).split('\n');
    expect(header).toBe(`${theirHeader},CONTAINER,CONTID,ORCHESTRATOR`);
    // the header once, a row per event; none of these events is attributed: empty container cells
    expect(sorted(rows.map((row) => readCsvLine(row).map(unguarded).join(',')))).toEqual(sorted(theirRows.map((row) => `${row},,,`)));
    expect(sorted(errors)).toEqual(sorted(golden(file, 'csv.stderr').split(/(?<=\n)/).filter(Boolean)));
  });
});
