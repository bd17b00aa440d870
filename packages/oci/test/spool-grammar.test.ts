import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { IncompleteEntryError, Spool, parseSpoolEntry } from '@contid/oci';

// One grammar, two implementations: the sh writer (integrations/bin/contid-tag.sh) must write
// each fixture byte for byte, and the TypeScript reader must parse each fixture to its table row.
const FIXTURES = join(__dirname, 'fixtures', 'spool');
const LIBRARY = resolve(__dirname, '../../../integrations/bin/contid-tag.sh');

interface Case {
  case: string;
  about?: string;
  write?: string[];
  sections?: Record<string, string>;
  parsed?: Record<string, unknown>;
  error?: string;
  refused?: string;
}

const cases = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8')) as Case[];
const fixture = (c: Case) => readFileSync(join(FIXTURES, `${c.case}.entry`), 'utf8');

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'contid-spool-grammar-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Runs the sh writer in a fresh spool; returns its status, stderr-free message and the files it
 * left. Sections go after `--` (copied by the shell's own read, no fork) or `--cat` (by cat).
 */
function shWrite(c: Case, copy: '--' | '--cat' = '--'): { status: number | null; message: string; files: string[]; spool: string } {
  const work = mkdtempSync(join(dir, `${c.case}-`));
  const spool = join(work, 'spool');
  const sections = Object.entries(c.sections ?? {}).map(([label, text]) => {
    const file = join(work, `src-${label}`);
    writeFileSync(file, text);
    return `${label}=${file}`;
  });
  const script = '. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write "$@" || { printf %s "$contid_write_error"; exit 1; }';
  const r = spawnSync('sh', ['-c', script, LIBRARY, ...c.write!, copy, ...sections], { env: { PATH: process.env.PATH, SPOOL: spool }, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  let files: string[] = [];
  try {
    files = readdirSync(spool);
  } catch {
    files = [];
  }
  return { status: r.status, message: r.stdout, files, spool };
}

describe('spool grammar v1: the sh writer', () => {
  test.each(cases.filter((c) => c.write && !c.refused).map((c) => [c.case, c] as const))('%s: written byte for byte as the fixture', (_n, c) => {
    const w = shWrite(c);
    expect(w.status).toBe(0);
    expect(w.files).toHaveLength(1);
    expect(w.files[0]).toMatch(new RegExp(`^${c.write![0]}-${c.write![1]}-\\d+\\.entry$`));
    expect(readFileSync(join(w.spool, w.files[0]), 'utf8')).toBe(fixture(c));
  });

  test.each(cases.filter((c) => c.write && !c.refused && c.sections).map((c) => [c.case, c] as const))('%s: the same bytes when sections are copied by cat', (_n, c) => {
    const w = shWrite(c, '--cat');
    expect(w.status).toBe(0);
    expect(w.files).toHaveLength(1);
    expect(readFileSync(join(w.spool, w.files[0]), 'utf8')).toBe(fixture(c));
  });

  test.each(cases.filter((c) => c.refused).map((c) => [c.case, c] as const))('%s: refused, nothing left behind', (_n, c) => {
    const w = shWrite(c);
    expect(w.status).toBe(1);
    expect(w.message).toBe(c.refused);
    expect(w.files).toEqual([]);
  });

  test('a copied section keeps any bytes but NUL, whether read by the shell or by cat (property)', () => {
    const spool = join(dir, 'property');
    const src = join(dir, 'property-src');
    const script = '. "$0"; contid_settings; contid_spool=$SPOOL; rm -f "$SPOOL"/*; contid_spool_write 3 setns id=x "$1" "process.json=$2" || exit 1; cat "$SPOOL"/*';
    const char = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), fc.constantFrom('\n', '\\', ' ', '\t', '\r', '-', '"'));
    const text = fc.array(char, { maxLength: 300 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(text, fc.constantFrom('--', '--cat'), (content, copy) => {
        const body = content.replace(/\0/g, '');
        writeFileSync(src, body);
        const r = spawnSync('sh', ['-c', script, LIBRARY, copy, src], { env: { PATH: process.env.PATH, SPOOL: spool, LC_ALL: 'C' } });
        expect(r.status).toBe(0);
        // Bytes, as written (a lone surrogate was written as U+FFFD).
        const expected = Buffer.concat([Buffer.from('contid-spool 1\nop=setns\nid=x\n--- process.json\n'), readFileSync(src), Buffer.from('\n--- end\n')]);
        expect(r.stdout.equals(expected)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  test.each(['--', '--cat'])('a section whose file cannot be copied leaves no entry (copied after %s)', (copy) => {
    const spool = join(dir, `dir-as-file${copy}`);
    const r = spawnSync('sh', ['-c', `. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write 2 create id=x ${copy} config.json=/ || { printf %s "$contid_write_error"; exit 1; }`, LIBRARY], {
      env: { PATH: process.env.PATH, SPOOL: spool },
      encoding: 'utf8',
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe(`cannot write the spool entry in ${spool}`);
    expect(readdirSync(spool)).toEqual([]);
  });
});

describe('spool grammar v1: the TypeScript reader', () => {
  test.each(cases.filter((c) => c.parsed).map((c) => [c.case, c] as const))('%s: parsed as the table says', (_n, c) => {
    expect(parseSpoolEntry(`${c.case}.entry`, fixture(c), 5)).toMatchObject({ name: `${c.case}.entry`, time: 5, ...c.parsed });
  });

  test.each(cases.filter((c) => c.error).map((c) => [c.case, c] as const))('%s: refused with one line', (_n, c) => {
    expect(() => parseSpoolEntry(`${c.case}.entry`, fixture(c))).toThrow(c.error!);
    try {
      parseSpoolEntry(`${c.case}.entry`, fixture(c));
    } catch (e) {
      expect((e as Error).message).not.toContain('\n');
      expect(e instanceof IncompleteEntryError).toBe(/incomplete/.test(c.error!));
    }
  });

  test('every fixture file is in the table', () => {
    const listed = new Set(cases.map((c) => `${c.case}.entry`));
    expect(readdirSync(FIXTURES).filter((f) => f.endsWith('.entry') && !listed.has(f))).toEqual([]);
  });

  test('the spool lists entries by session number', () => {
    const spool = mkdtempSync(join(dir, 'order-'));
    for (const n of ['100-create-1.entry', '9-create-2.entry', '11-end-3.entry', 'x.reason']) writeFileSync(join(spool, n), 'op=create\n');
    expect(new Spool(spool).names()).toEqual(['9-create-2.entry', '11-end-3.entry', '100-create-1.entry']);
  });
});
