import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ContainerRecord, Registry } from '@contid/core';
import { field, freezeSince, logMark } from '../helpers/audit';
import { contid, run, tempStateDir } from '../helpers/cli';
import { Serve, startServe } from '../helpers/serve';
import { waitFor } from '../helpers/wait';
import { createContainer, destroyContainer, lxcInitPid, lxcName, lxcStart, sessionOf, waitForState } from './lxc-host';

/**
 * The LXC hot path when `contid serve` is not there to bind: contid-lxc start and the start-host
 * hook (POSIX sh) only write spool entries (the end is serve's: it follows each container's
 * monitor, and ends at once a row whose container it finds stopped), so a start never waits for serve, and what they wrote
 * must be bound once, in order, whenever serve runs again — after a stop or a kill -9 amid the
 * starts. Real LXC (busybox), the real kernel sessions and auditd as the witness.
 */
describe('LXC starts while contid serve is down or killed (real LXC, real auditd)', () => {
  const state = tempStateDir('lxc-faults');
  const stateDir = state.env.CONTID_STATE_DIR!;
  const spoolDir = join(stateDir, 'spool');
  const names: string[] = [];
  let serve: Serve | null = null;

  afterAll(async () => {
    names.forEach(destroyContainer);
    await serve?.stop();
    state.cleanup();
  });

  function make(label: string): string {
    const name = lxcName(label);
    names.push(name);
    createContainer(name);
    expect(contid(['install', 'lxc', name], { env: state.env }).status).toBe(0);
    return name;
  }

  /** One start + stop through contid-lxc: the session and init the start had. */
  async function cycle(name: string): Promise<{ session: number; init: number }> {
    expect(lxcStart([name], state.env)).toMatchObject({ status: 0, stderr: '' });
    await waitForState(name, 'RUNNING');
    const init = lxcInitPid(name);
    const started = { session: sessionOf(init), init };
    expect(run('lxc-stop', ['-n', name, '-k']).status).toBe(0);
    return started;
  }

  const waiting = (): string[] => {
    try {
      return readdirSync(spoolDir).filter((n) => n.endsWith('.entry'));
    } catch {
      return [];
    }
  };
  const quarantined = (): string[] => {
    try {
      return readdirSync(join(spoolDir, 'failed'));
    } catch {
      return [];
    }
  };

  function rowsOf(name: string): { rows: ContainerRecord[]; creates: number[]; problems: string[] } {
    const r = Registry.open(stateDir, { readonly: true });
    try {
      const rows = r.list({ orchestrator: 'lxc' }).filter((c) => c.runtimeId === name);
      return { rows, creates: rows.map((c) => r.bindings(c.contid).filter((b) => b.op === 'create').length), problems: r.check() };
    } finally {
      r.close();
    }
  }

  /** contid's records for NAME, from a frozen copy of the log (auditd writes asynchronously), grouped by contid. */
  async function recordsOf(name: string, contids: string[], mark: ReturnType<typeof logMark>): Promise<Map<string, string[]>> {
    const byContid = new Map<string, string[]>();
    await waitFor(
      `every end of ${name} in the audit log`,
      () => {
        byContid.clear();
        const frozen = join(state.dir, 'audit.log');
        freezeSince(mark, frozen);
        const found = spawnSync('ausearch', ['-m', 'VIRT_CONTROL', '--vm-name', name, '--raw', '-if', frozen], { encoding: 'utf8', maxBuffer: 64 << 20 });
        const lines = found.stdout.split('\n').filter((l) => l.startsWith('type=VIRT_CONTROL') && field(l, 'vm') === name);
        for (const l of lines) byContid.set(field(l, 'contid')!, [...(byContid.get(field(l, 'contid')!) ?? []), field(l, 'op')!]);
        return contids.every((c) => byContid.get(c)?.includes('end'));
      },
      30_000,
    );
    return byContid;
  }

  test('down during 20 starts, then started: every start bound, in the order of the starts (create, its init, its end), nothing lost or doubled', async () => {
    const name = make('down');
    const mark = logMark();
    const starts = [];
    for (let i = 0; i < 20; i++) starts.push(await cycle(name));
    // Each start waits in the spool: its create (contid-lxc) and its init (start-host).
    await waitFor('the 40 entries', () => waiting().length >= 40, 30_000);
    expect(waiting()).toHaveLength(40);
    expect(existsSync(join(stateDir, 'registry.db')) ? rowsOf(name).rows : []).toEqual([]);
    expect(contid(['doctor'], { env: state.env }).stdout).toMatch(/spool: 40 hand-off\(s\) being drained in /);

    serve = startServe(state.env, state.dir);
    await serve.drained('serve to bind the 40 entries');
    // Then serve looks at every open row: each container is stopped, so each row ends.
    await waitFor('every row ended', () => rowsOf(name).rows.every((c) => c.state === 'ended'), 30_000);
    const { rows, creates, problems } = rowsOf(name);
    // Bound in order: the rows, in the order of their contids, are the starts in the order they ran.
    const ordered = [...rows].sort((a, b) => (a.contid < b.contid ? -1 : a.contid > b.contid ? 1 : 0));
    expect(ordered.map((c) => [c.session, c.initPid, c.state])).toEqual(starts.map((s) => [s.session, s.init, 'ended']));
    expect(creates).toEqual(rows.map(() => 1));
    expect(problems).toEqual([]);
    const records = await recordsOf(name, ordered.map((c) => String(c.contid)), mark);
    expect([...records.keys()].sort()).toEqual(ordered.map((c) => String(c.contid)).sort());
    for (const c of ordered) expect(records.get(String(c.contid))).toEqual(['create', 'update', 'end']);
    expect(quarantined()).toEqual([]);
  }, 300_000);

  test('kill -9 of serve amid 50 starts, then serve again: 0 lost, 0 doubled in the registry; in the log at most the one record serve was writing, repeated', async () => {
    const name = make('kill');
    const mark = logMark();
    if (!serve) serve = startServe(state.env, state.dir);
    await serve.ready();
    const starts = [];
    for (let i = 0; i < 50; i++) {
      starts.push(await cycle(name));
      // While it binds the first starts' entries (each start leaves two; serve ends what it follows).
      if (i === 9) await serve.stop('SIGKILL');
    }
    serve = startServe(state.env, state.dir);
    await serve.drained('serve to bind what waits');
    await waitFor('every row ended', () => rowsOf(name).rows.length === starts.length && rowsOf(name).rows.every((c) => c.state === 'ended'), 30_000);
    const { rows, creates, problems } = rowsOf(name);
    expect(rows.map((c) => c.session ?? -1).sort((a, b) => a - b)).toEqual(starts.map((s) => s.session).sort((a, b) => a - b));
    for (const s of starts) expect(rows.find((c) => c.session === s.session)).toMatchObject({ initPid: s.init, state: 'ended' });
    expect(creates).toEqual(rows.map(() => 1));
    expect(problems).toEqual([]);
    const records = await recordsOf(name, rows.map((c) => String(c.contid)), mark);
    // Every start's create, init (update) and end are in the log, once each — except that the record
    // serve was writing when it was killed may be written again when it replays that entry: the
    // audit record goes out before the registry commits (so a record is never lost), and a kill
    // between the two repeats it — an end or update under the same ID, or a create under a fresh
    // ID that no row keeps. At most that one record.
    const known = new Set(rows.map((c) => String(c.contid)));
    let repeated = 0;
    for (const [id, ops] of records) {
      if (!known.has(id)) {
        expect(ops).toEqual(['create']);
        repeated++;
        continue;
      }
      expect([...new Set(ops)].sort()).toEqual(['create', 'end', 'update']);
      expect(ops.filter((o) => o === 'create')).toHaveLength(1);
      repeated += ops.length - 3;
    }
    expect(repeated).toBeLessThanOrEqual(1);
    expect(waiting()).toEqual([]);
    expect(quarantined()).toEqual([]);
  }, 300_000);
});
