import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { AuditSink, ContainerId, MIGRATIONS, Registry, Tagger, boundSessions, currentBootId, foldKeyOf } from '@contid/core';

class CountingSink implements AuditSink {
  sent = 0;
  send(): void {
    this.sent++;
  }
  close(): void {}
}

const DOCKER_CHECK = ['/bin/sh', '-c', 'wget -q -O- localhost/health'];
const LIVENESS = ['/bin/sh', '-c', 'test -d /'];

/** The registry's logical size: every page it uses (the WAL's included), not the file's. */
const usedBytes = (r: Registry): number =>
  ((r.db.pragma('page_count', { simple: true }) as number) - (r.db.pragma('freelist_count', { simple: true }) as number)) *
  (r.db.pragma('page_size', { simple: true }) as number);

describe('healthcheck runs folded in the registry', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-folds-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates a registry the old code wrote (schema v3, a binding row per run): one fold per check, every session still maps to its container', () => {
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    const old = new Database(join(state, 'registry.db'));
    old.exec(readFileSync(join(__dirname, 'fixtures/registry-v3.sql'), 'utf8').replaceAll('@BOOT_ID@', currentBootId()));
    expect(old.pragma('user_version', { simple: true })).toBe(3);
    const oldRows = old.prepare('SELECT contid, session, detail FROM bindings ORDER BY id').all() as { contid: string; session: number; detail: string }[];
    old.close();
    expect(oldRows).toHaveLength(63);

    // Read-only (contid search, tail) before anything migrated it: the old rows still answer.
    const before = Registry.open(state, { readonly: true });
    try {
      expect(before.schemaVersion).toBe(3);
      for (const row of oldRows) expect(before.containerOfSession(row.session)?.contid.toString()).toBe(row.contid);
      expect(before.folds(before.find('web')!.contid)).toEqual([]);
    } finally {
      before.close();
    }

    const reg = Registry.open(state);
    try {
      expect(reg.schemaVersion).toBe(MIGRATIONS.length);
      expect(reg.check()).toEqual([]);
      const web = reg.find('web')!;
      const api = reg.find('shop/probed-7f9c2/api')!;
      // The create and the user's exec stay rows; the 30 runs of each check are one fold.
      expect(reg.bindings(web.contid).map((b) => [b.op, b.detail.command ?? null])).toEqual([
        ['create', null],
        ['setns', ['id']],
      ]);
      expect(reg.bindings(api.contid).map((b) => b.op)).toEqual(['create']);
      const [wf] = reg.folds(web.contid);
      expect(reg.folds(web.contid)).toHaveLength(1);
      expect(wf).toMatchObject({ count: 30, key: foldKeyOf({ healthcheck: true, command: DOCKER_CHECK }) });
      expect(wf.lastAt - wf.firstAt).toBe(29_000);
      expect(wf.detail).toMatchObject({ command: DOCKER_CHECK, healthcheck: true, execId: '1de'.padStart(64, '0') });
      const [af] = reg.folds(api.contid);
      expect(af).toMatchObject({ count: 30, detail: { command: LIVENESS, probe: ['liveness'] } });
      // Every old row's session still names its container, and liveness still sees it.
      for (const row of oldRows) expect([row.session, reg.containerOfSession(row.session)?.contid.toString()]).toEqual([row.session, row.contid]);
      const healthSessions = (contid: string) => oldRows.filter((r) => r.contid === contid && JSON.parse(r.detail).healthcheck === true).map((r) => r.session);
      expect(reg.foldedSessions(web.contid)).toEqual(healthSessions(web.contid.toString()));
      expect(reg.foldSessions(wf.id)).toEqual(healthSessions(web.contid.toString()));
      expect(wf.lastSession).toBe(Math.max(...healthSessions(web.contid.toString())));
      expect(new Set(boundSessions(reg, web))).toEqual(new Set(oldRows.filter((r) => r.contid === web.contid.toString()).map((r) => r.session)));
    } finally {
      reg.close();
    }
  });

  it('a healthcheck run grows the registry by a few bytes, not a row (1,000 runs)', () => {
    const reg = Registry.open(join(dir, 'state'));
    try {
      const c = reg.registerContainer({ orchestrator: 'docker', name: 'web' }, { pid: 1, session: 10, op: 'create', detail: {} });
      const detail = (i: number) => ({ spoolEntry: `${1000 + i}-exec-1.entry`, command: DOCKER_CHECK, user: { uid: 0, gid: 0 }, cwd: '/', execId: String(i).padStart(64, '0'), dockerCommand: DOCKER_CHECK, dockerUser: 'default', healthcheck: true });
      const key = foldKeyOf(detail(0))!;
      for (let i = 0; i < 10; i++) reg.addFoldedBinding({ contid: c.contid, session: 1000 + 2 * i, pid: 100 + i, op: 'setns', detail: detail(i) }, key);
      const before = usedBytes(reg);
      for (let i = 10; i < 1010; i++) reg.addFoldedBinding({ contid: c.contid, session: 1000 + 2 * i, pid: 100 + i, op: 'setns', detail: detail(i) }, key);
      const perRun = (usedBytes(reg) - before) / 1000;
      // A binding row per run: about 450 bytes with this detail (1.6–3 KB measured in the field); a fold: about 25.
      expect(perRun).toBeLessThan(40);
      expect(reg.folds(c.contid)).toEqual([expect.objectContaining({ count: 1010, lastSession: 1000 + 2 * 1009, lastPid: 100 + 1009 })]);
      expect(reg.containerOfSession(1000 + 2 * 500)?.contid).toBe(c.contid);
      expect(reg.containerOfSession(1000 + 2 * 500 + 1)).toBeUndefined();
    } finally {
      reg.close();
    }
  });

  it('containerOfSession and boundSessions answer as if every run had its own row (property)', () => {
    type Op = { kind: 'create' } | { kind: 'exec'; on: number } | { kind: 'check'; on: number; check: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.constant<Op>({ kind: 'create' }),
      fc.record({ kind: fc.constant('exec' as const), on: fc.nat(5) }),
      fc.record({ kind: fc.constant('check' as const), on: fc.nat(5), check: fc.nat(2) }),
    );
    const checks = [DOCKER_CHECK, LIVENESS, ['true']];
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 40 }), fc.array(fc.nat(6), { maxLength: 40 }), (ops, gaps) => {
        const run = mkdtempSync(join(dir, 'p-'));
        const tagger = Tagger.open({ stateDir: join(run, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'fold-test' }, { sink: new CountingSink(), trustedCaller: true });
        try {
          // The model: every session a row of its own, as the old code kept them.
          const owner = new Map<number, ContainerId>();
          const runs = new Map<string, number>();
          const containers: ContainerId[] = [];
          let session = 3_000_000_000;
          ops.forEach((o, i) => {
            session += 1 + (gaps[i] ?? 0); // other logins take numbers in between
            const target = { pid: process.pid, session };
            if (o.kind === 'create' || containers.length === 0) {
              const c = tagger.create({ orchestrator: 'docker', name: `c${containers.length}`, parent: null, target }).container;
              containers.push(c.contid);
              owner.set(session, c.contid);
              return;
            }
            const contid = containers[o.on % containers.length];
            const detail = o.kind === 'check' ? { command: checks[o.check], healthcheck: true } : { command: ['sh'] };
            tagger.setns({ contid, target, detail });
            owner.set(session, contid);
            if (o.kind === 'check') runs.set(`${contid}/${o.check}`, (runs.get(`${contid}/${o.check}`) ?? 0) + 1);
          });
          const q = tagger.containers;
          for (let s = 3_000_000_000; s <= session + 1; s++) expect([s, q.containerOfSession(s)?.contid]).toEqual([s, owner.get(s)]);
          for (const contid of containers) {
            const c = q.get(contid)!;
            const expected = [...owner].filter(([, o]) => o === contid).map(([s]) => s);
            expect(boundSessions(q, c).sort()).toEqual(expected.sort());
            expect(q.bindings(contid).some((b) => b.detail.healthcheck === true)).toBe(false);
            for (const f of q.folds(contid)) {
              const check = checks.findIndex((argv) => JSON.stringify(argv) === JSON.stringify(f.detail.command));
              expect(f.count).toBe(runs.get(`${contid}/${check}`));
            }
            expect(q.folds(contid).reduce((n, f) => n + f.count, 0)).toBe(checks.reduce((n, _, k) => n + (runs.get(`${contid}/${k}`) ?? 0), 0));
          }
        } finally {
          tagger.close();
          rmSync(run, { recursive: true, force: true });
        }
      }),
      { numRuns: 40 },
    );
  });
});
