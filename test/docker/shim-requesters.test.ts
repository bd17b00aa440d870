import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatChange, formatRequester } from '@contid/docker';
import { SpoolEntry, parseSpoolEntry } from '@contid/oci';
import { REPO_ROOT, tempStateDir, uniqueName } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';
import { SHIM } from './engine';

// The shim's side of the front's notes, on its own (a fake runtime that records the loginuid
// it runs with, no dockerd): whose auid a create or exec gets, and when a run dockerd makes on
// its own is contested because someone other than the container's starter changed it. Each
// case runs through the sh and through the compiled shim with no sh beside it (a case it
// handed to the sh would fail there): both read and append to the notes themselves.
const state = tempStateDir('docker-shim-req');
const spoolDir = join(state.dir, 'spool');
const notes = join(state.dir, 'requesters');
const fake = join(state.dir, 'fake-runc');
const CID = 'a'.repeat(64);
const EID = 'e'.repeat(64);
const alice = { uid: 1001, auid: 1001, session: 11, pid: 101, exe: '/usr/bin/docker' };
const mallory = { uid: 1002, auid: 1002, session: 12, pid: 102, exe: '/usr/bin/docker' };
const cNote = () => join(notes, `c-${CID}`);

/** The auid the shim's own unset loginuid becomes (what a run with no requester gets). */
const DOCKERD_AUID = '4242';

const ALONE = join(state.dir, 'alone');
let current = SHIM;

beforeAll(() => {
  mkdirSync(ALONE, { recursive: true });
  writeFileSync(fake, '#!/bin/sh\ncat /proc/self/loginuid >"$OUT"\n', { mode: 0o755 });
  copyFileSync(buildFastShim(), join(ALONE, 'contid-runc-fast'));
  copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(ALONE, 'contid-tag.sh'));
});
afterAll(() => state.cleanup());
beforeEach(() => {
  rmSync(notes, { recursive: true, force: true });
  rmSync(spoolDir, { recursive: true, force: true });
  mkdirSync(notes, { mode: 0o700 });
});

/** Runs the shim as dockerd would: the runner's own loginuid stands for dockerd's side. */
function shim(args: string[]): { entry: SpoolEntry; auid: string; raw: string } {
  const out = join(state.dir, uniqueName('auid'));
  mkdirSync(spoolDir, { recursive: true, mode: 0o700 }); // as the agent keeps it (the compiled shim leaves making it to the sh)
  const env = { ...process.env, CONTID_RUNTIME: fake, OUT: out, CONTID_SPOOL_DIR: spoolDir, CONTID_REQUESTERS_DIR: notes, CONTID_RUNC_CONF: '/nonexistent', CONTID_LOGIN_UID: DOCKERD_AUID };
  const r = spawnSync(current, args, { env, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`shim: ${r.stderr}`);
  const [name] = readdirSync(spoolDir).filter((f) => f.endsWith('.entry'));
  const raw = readFileSync(join(spoolDir, name!), 'utf8');
  const entry = parseSpoolEntry(name!, raw);
  rmSync(spoolDir, { recursive: true, force: true });
  return { entry, auid: readFileSync(out, 'utf8').trim(), raw };
}

/** What a run with no requester gets: the runner's own loginuid, or CONTID_LOGIN_UID where it is unset. */
const own = (): string => {
  const mine = readFileSync('/proc/self/loginuid', 'utf8').trim();
  return mine === '4294967295' ? DOCKERD_AUID : mine;
};

const bundle = () => {
  const dir = join(state.dir, uniqueName('bundle'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), '{}');
  return dir;
};
const create = () => shim(['create', '--bundle', bundle(), '--pid-file', join(state.dir, 'init.pid'), CID]);
const exec = (execId: string) => shim(['exec', '--process', join(state.dir, 'none.json'), '--detach', '--pid-file', join(state.dir, `${execId}.pid`), CID]);

describe.each([
  ['the sh contid-runc', SHIM],
  ['contid-runc-fast alone', join(ALONE, 'contid-runc-fast')],
])('%s', (_kind, path) => {
  beforeAll(() => {
    current = path;
  });

  describe('a create', () => {
    test('a client\'s start (an unused note): its requester, and the note is marked used', () => {
      writeFileSync(cNote(), formatRequester(alice) + formatChange('cp', mallory));
      const { entry, auid } = create();
      expect(auid).toBe(String(alice.auid));
      expect(entry.requester).toEqual(alice);
      expect(entry.contested).toBeNull();
      expect(readFileSync(cNote(), 'utf8')).toMatch(/^used=\d+$/m);
    });

    test.each([
      ['no change', [], false],
      ['the starter\'s own changes', [formatChange('cp', alice), formatChange('exec', alice)], false],
      ['mallory\'s cp', [formatChange('cp', mallory)], true],
      ['the starter\'s uid with another auid', [formatChange('update', { ...alice, auid: 0 })], true],
      ['the starter\'s, then mallory\'s', [formatChange('cp', alice), formatChange('update', mallory)], true],
    ])('dockerd\'s own (a used note) after %s', (_what, changes, contested) => {
      writeFileSync(cNote(), formatRequester(alice) + 'used=7\n' + changes.join(''));
      const { entry, auid } = create();
      if (!contested) {
        expect(auid).toBe(String(alice.auid));
        expect(entry.requester).toEqual({ ...alice, byDockerd: true });
        expect(entry.contested).toBeNull();
        return;
      }
      expect(auid).toBe(own());
      expect(entry.requester).toBeNull();
      expect(entry.contested).toEqual({
        lastStarter: alice,
        changedBy: changes.map((c) => {
          const [what, uid, a, session, pid, exe] = c.slice('changed='.length, -1).split(',');
          return { what, uid: Number(uid), auid: Number(a), session: Number(session), pid: Number(pid), exe };
        }),
      });
    });
  });

  describe('an exec', () => {
    test('mallory\'s own exec (her note) is hers, and is noted on alice\'s container as a change', () => {
      writeFileSync(cNote(), formatRequester(alice) + 'used=7\n');
      writeFileSync(join(notes, `e-${EID}`), formatRequester(mallory));
      const { entry, auid } = exec(EID);
      expect(auid).toBe(String(mallory.auid));
      expect(entry.requester).toEqual(mallory);
      expect(readFileSync(cNote(), 'utf8')).toBe(formatRequester(alice) + 'used=7\n' + formatChange('exec', mallory));
      // dockerd's next probe of it is contested.
      const probe = exec('f'.repeat(64));
      expect(probe.auid).toBe(own());
      expect(probe.entry.contested).toMatchObject({ lastStarter: alice, changedBy: [{ what: 'exec', uid: mallory.uid }] });
    });

    test('the starter\'s own exec changes nothing: her probes stay hers', () => {
      writeFileSync(cNote(), formatRequester(alice) + 'used=7\n');
      writeFileSync(join(notes, `e-${EID}`), formatRequester(alice));
      expect(exec(EID).auid).toBe(String(alice.auid));
      expect(readFileSync(cNote(), 'utf8')).toBe(formatRequester(alice) + 'used=7\n');
      const probe = exec('f'.repeat(64));
      expect(probe.auid).toBe(String(alice.auid));
      expect(probe.entry.requester).toEqual({ ...alice, byDockerd: true });
    });

    test('an exec into a container with no note (root\'s) writes none', () => {
      writeFileSync(join(notes, `e-${EID}`), formatRequester(mallory));
      expect(exec(EID).auid).toBe(String(mallory.auid));
      expect(existsSync(cNote())).toBe(false);
    });
  });
});

// The exec client's program is hers to name, and the front writes it printable but as it is
// (backslashes kept): `x\nuid=0` is eleven printable characters. The sh appended its changed=
// line with dash's echo, which turns a backslash-n into a newline: her name forged uid= and
// auid= lines in the container's note, which every later read took as the starter's (review34,
// found beside item 1). Both shims append the name as it is, one line.
test('an exec client named with backslash escapes appends one line to the note, by both shims', () => {
  const her = { ...mallory, exe: '/home/mallory/x\\nuid=0\\nauid=0\\c' };
  for (const path of [SHIM, join(ALONE, 'contid-runc-fast')]) {
    current = path;
    rmSync(notes, { recursive: true, force: true });
    mkdirSync(notes, { mode: 0o700 });
    writeFileSync(cNote(), formatRequester(alice));
    writeFileSync(join(notes, `e-${EID}`), formatRequester(her));
    exec(EID);
    // before (the sh): 'changed=exec,1002,1002,12,102,/home/mallory/x', then 'uid=0', then 'auid=0' and no newline (\c)
    expect([path, readFileSync(cNote(), 'utf8')]).toEqual([path, `${formatRequester(alice)}changed=exec,1002,1002,12,102,${her.exe}\n`]);
  }
});

// Notes as the sh reads them, odd ones too: the compiled shim's entry and what it appends to the
// note are the sh's, byte for byte (pids and sessions aside).
describe('the compiled shim reads every note as the sh does', () => {
  const odd = [
    formatRequester(alice).trimEnd(), // no newline at its end
    formatRequester({ ...alice, auid: 4294967295 }) + 'used=1\n',
    formatRequester(alice) + 'used=1\nchanged=cp\nchanged=\n\nchanged=cp,1001\n',
    formatRequester(alice) + 'used=1\nchanged=cp,1001,1001,1,2,/a b\nuid=1002\nchanged=cp,1002,1001,3,4,/c\n',
    'uid=1001\nauid=abc\nexe=\nused=\n',
    'auid=1001\nuid=1001\n',
    'uid=\n',
    'session=5\n',
  ];
  const scrub = (t: string): string => t.replace(/^(session|old-session|wrapper-pid)=\d+$/gm, '$1=N').replace(/used=\d+/g, 'used=N');
  test.each(odd.flatMap((note) => ['create-unused', 'create-used', 'exec-own', 'exec-dockerd'].map((kind) => [kind, note] as const)))('%s, note %j', (kind, note) => {
    const seen = [SHIM, join(ALONE, 'contid-runc-fast')].map((path) => {
      current = path;
      rmSync(notes, { recursive: true, force: true });
      mkdirSync(notes, { mode: 0o700 });
      writeFileSync(cNote(), kind === 'create-used' ? `${note}\nused=9\n` : note);
      if (kind === 'exec-own') writeFileSync(join(notes, `e-${EID}`), formatRequester(mallory));
      const out = kind.startsWith('create') ? create() : exec(kind === 'exec-own' ? EID : 'f'.repeat(64));
      return { auid: out.auid, entry: scrub(out.raw).replace(/^bundle=.*$/m, ''), note: scrub(readFileSync(cNote(), 'utf8')) };
    });
    expect(seen[1]).toEqual(seen[0]);
  });
});
