import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RequesterStore, formatChange, formatRequester } from '@contid/docker';

// The container notes the front keeps for the shim: who started it, and who changed it since.
const ID = 'c'.repeat(64);
const alice = { uid: 1001, auid: 1001, session: 11, pid: 101, exe: '/usr/bin/docker' };
const mallory = { uid: 1002, auid: 1002, session: 12, pid: 102, exe: '/usr/bin/docker' };
let dir: string;
let store: RequesterStore;
const text = () => readFileSync(join(dir, `c-${ID}`), 'utf8');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'contid-requesters-'));
  store = new RequesterStore(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('changes noted on a container\'s note', () => {
  test('appended after the starter; a container with no note (root\'s, on dockerd\'s own socket) gets none', () => {
    expect(store.noteChange(ID, 'cp', mallory)).toBeNull();
    expect(store.text('c', ID)).toBeNull();
    store.note('c', ID, alice);
    expect(store.noteChange(ID, 'cp', mallory)).toBe(formatChange('cp', mallory));
    expect(store.noteChange(ID, 'update', alice)).toBe(formatChange('update', alice));
    expect(text()).toBe(formatRequester(alice) + formatChange('cp', mallory) + formatChange('update', alice));
    expect(store.read('c', ID)).toEqual(alice);
  });

  test('a client start writes a fresh note: the changes before it are gone', () => {
    store.note('c', ID, alice);
    store.noteChange(ID, 'cp', mallory);
    expect(store.replace('c', ID, alice)).toBe(formatRequester(alice) + formatChange('cp', mallory));
    expect(text()).toBe(formatRequester(alice));
  });
});

describe('a change dockerd refused is taken back (outside attack 8 F4: any user could contest anyone\'s container for free)', () => {
  test('the one line noted is removed; the starter, used= and the other changes stay, lines appended after it too', () => {
    store.note('c', ID, alice);
    appendFileSync(join(dir, `c-${ID}`), 'used=5\n');
    store.noteChange(ID, 'cp', mallory);
    const line = store.noteChange(ID, 'cp', mallory);
    expect(line).toBe(formatChange('cp', mallory));
    appendFileSync(join(dir, `c-${ID}`), 'used=6\n');
    store.withdrawChange(ID, line as string);
    expect(text()).toBe(formatRequester(alice) + 'used=5\n' + formatChange('cp', mallory) + 'used=6\n');
    store.withdrawChange(ID, line as string);
    expect(text()).toBe(formatRequester(alice) + 'used=5\nused=6\n');
  });

  test('a line no longer there (a start wrote a fresh note meanwhile), or no note: nothing is written', () => {
    store.note('c', ID, alice);
    const line = store.noteChange(ID, 'update', mallory) as string;
    store.replace('c', ID, alice);
    store.withdrawChange(ID, line);
    expect(text()).toBe(formatRequester(alice));
    store.forget('c', ID);
    store.withdrawChange(ID, line);
    expect(store.text('c', ID)).toBeNull();
  });

  test('only a whole line is taken back, never the tail of another one', () => {
    const line = formatChange('cp', mallory);
    store.restore('c', ID, formatRequester(alice) + 'x' + line);
    store.withdrawChange(ID, line);
    expect(text()).toBe(formatRequester(alice) + 'x' + line);
  });
});

describe('a refused or no-op (304) start\'s note put back', () => {
  test('by another user: the earlier note, the changes made while hers stood, and her start as a change', () => {
    const before = formatRequester(alice) + 'used=5\n' + formatChange('cp', alice);
    store.restore('c', ID, before);
    store.replace('c', ID, mallory);
    // While her note stood: her exec (the shim compared it with her own note: not appended), bob's cp.
    const bob = { ...mallory, uid: 1003, auid: 1003 };
    store.noteChange(ID, 'cp', bob);
    appendFileSync(join(dir, `c-${ID}`), 'used=6\n');
    store.putBack(ID, before, mallory);
    expect(text()).toBe(before + formatChange('cp', bob) + formatChange('start', mallory));
    expect(store.read('c', ID)).toEqual(alice);
  });

  test('by the starter: the earlier note and the changes, no start change', () => {
    const before = formatRequester(alice) + 'used=5\n';
    store.restore('c', ID, before);
    store.replace('c', ID, alice);
    store.noteChange(ID, 'exec', mallory);
    store.putBack(ID, before, alice);
    expect(text()).toBe(before + formatChange('exec', mallory));
  });

  test('the same person is the same uid and login uid: another auid is someone else', () => {
    const before = formatRequester(alice);
    store.restore('c', ID, before);
    store.replace('c', ID, { ...alice, auid: 0 });
    store.putBack(ID, before, { ...alice, auid: 0 });
    expect(text()).toBe(before + formatChange('start', { ...alice, auid: 0 }));
  });

  test('no note before: the note is removed', () => {
    store.replace('c', ID, mallory);
    store.putBack(ID, null, mallory);
    expect(store.text('c', ID)).toBeNull();
  });
});

describe("a container's maker note (m-ID, outside attack 12 R1)", () => {
  test('kept as made when a start replaces the c note, pruned at container age, not exec age', () => {
    store.note('c', ID, alice);
    store.note('m', ID, alice);
    store.replace('c', ID, mallory);
    expect(store.read('m', ID)).toEqual(alice);
    expect(store.read('c', ID)).toEqual(mallory);
    const inTwoHours = Date.now() + 2 * 3_600_000;
    store.note('e', ID, alice);
    expect(store.prune(inTwoHours)).toBe(1);
    expect(store.read('m', ID)).toEqual(alice);
    expect(store.read('e', ID)).toBeNull();
  });
});

describe("a network's maker note (n-ID, outside attack 13 F4)", () => {
  test('pruned at container age, not exec age', () => {
    store.note('n', ID, mallory);
    expect(store.prune(Date.now() + 2 * 3_600_000)).toBe(0);
    expect(store.read('n', ID)).toEqual(mallory);
    expect(store.prune(Date.now() + 31 * 86_400_000)).toBe(1);
    expect(store.read('n', ID)).toBeNull();
  });
});
