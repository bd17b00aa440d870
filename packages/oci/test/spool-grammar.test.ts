import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
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

/** Runs the sh writer in a fresh spool; returns its status, stderr-free message and the files it left. */
function shWrite(c: Case): { status: number | null; message: string; files: string[]; spool: string } {
  const work = mkdtempSync(join(dir, `${c.case}-`));
  const spool = join(work, 'spool');
  const sections = Object.entries(c.sections ?? {}).map(([label, text]) => {
    const file = join(work, `src-${label}`);
    writeFileSync(file, text);
    return `${label}=${file}`;
  });
  const script = '. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write "$@" || { printf %s "$contid_write_error"; exit 1; }';
  const r = spawnSync('sh', ['-c', script, LIBRARY, ...c.write!, '--', ...sections], { env: { PATH: process.env.PATH, SPOOL: spool }, encoding: 'utf8' });
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

  test.each(cases.filter((c) => c.refused).map((c) => [c.case, c] as const))('%s: refused, nothing left behind', (_n, c) => {
    const w = shWrite(c);
    expect(w.status).toBe(1);
    expect(w.message).toBe(c.refused);
    expect(w.files).toEqual([]);
  });

  test('a section whose file cannot be copied leaves no entry (the terminator is never written)', () => {
    const spool = join(dir, 'dir-as-file');
    const r = spawnSync('sh', ['-c', '. "$0"; contid_settings; contid_spool=$SPOOL; contid_spool_write 2 create id=x -- config.json=/ || { printf %s "$contid_write_error"; exit 1; }', LIBRARY], {
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
