import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LivePipeline, TAIL_FORMATS, type TailFormat } from '@contid/audit';
import { csvHeaderRow, formatAuditEvent } from '../src/format';
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
  return String(pipeline.push(lines)) + String(pipeline.flush());
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

describe('contid tail: the bytes handed to the sink are each format\'s text, UTF-8 encoded', () => {
  // Every format of the plugin stream, fed the fixtures (node= prefixes, ENRICHED parts, bytes
  // over 0x7f): what the pipeline returns is exactly formatAuditEvent's text of the events it
  // let out, in the order it let them out — json's document copied from its writer's buffer,
  // the others encoded.
  const formats = TAIL_FORMATS.filter((f): f is Exclude<TailFormat, 'compact'> => f !== 'compact');
  // bytes over 0x7f: raw in a quoted value and a msg body (latin1 'é', a lone 0xff), UTF-8 'ü' hex-encoded in an argv
  const wide = [
    'type=SYSCALL msg=audit(1795926138.739:7): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=5 comm="caf\xe9" exe="/usr/bin/\xff" key=(null)',
    'type=EXECVE msg=audit(1795926138.739:7): argc=2 a0="echo" a1=C3BC4142FF',
    'type=EOE msg=audit(1795926138.739:7): ',
    "type=USER msg=audit(1795926138.740:8): pid=1 uid=0 auid=0 ses=5 msg='op=caf\xe9 \xff res=success'",
  ];
  const inputs: [string, string[]][] = [...LOGS.map((file): [string, string[]] => [file, readFileSync(join(FIX, file), 'latin1').split('\n').filter(Boolean)]), ['bytes over 0x7f', wide]];
  it.each(inputs.flatMap(([name, lines]) => formats.map((format) => [name, format, lines] as const)))('%s, %s', (_name, format, lines) => {
    let expected = '';
    const formatOptions = { csv: { container: true } };
    const pipeline: LivePipeline = new LivePipeline(
      {
        format,
        formatOptions,
        onEmit: (event, c) => {
          expected += formatAuditEvent(format, event, c ? pipeline.attributor.chain(c) : [], formatOptions);
          return '';
        },
      },
      () => 0,
    );
    const out = Buffer.concat([pipeline.push(lines), pipeline.flush()].map((o) => (typeof o === 'string' ? Buffer.from(o) : o)));
    const header = format === 'csv' ? csvHeaderRow(formatOptions) : '';
    expect(out.equals(Buffer.from(header + expected, 'utf8'))).toBe(true);
    expect(out.length).toBeGreaterThan(0);
  });
});
