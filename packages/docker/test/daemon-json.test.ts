import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { addRuntime, installDaemonJson, removeRuntime, restoreDaemonJson } from '@contid/docker';

describe('daemon.json: edits keep the operator\'s layout, uninstall gives the bytes back', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'contid-daemon-json-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test.each([
    ['a tab', '{\n\t"debug": true\n}\n', '\n\t"runtimes": {\n\t\t"contid"', '{\n\t"debug": true\n}\n'],
    ['four spaces', '{\n    "debug": true\n}', '\n    "runtimes": {\n        "contid"', '{\n    "debug": true\n}\n'],
    ['one line (the default, two spaces)', '{"debug":true}', '\n  "runtimes": {\n    "contid"', '{\n  "debug": true\n}\n'],
  ])('indentation of %s is kept', (_, text, added, removed) => {
    const change = addRuntime(text, '/s');
    expect(change.text).toContain(added);
    expect(removeRuntime(change.text).text).toBe(removed);
  });

  test('any install (repeated, default or not) then uninstall restores the exact bytes, one backup at most', () => {
    const json = fc.dictionary(fc.constantFrom('debug', 'log-level', 'data-root', 'x'), fc.oneof(fc.boolean(), fc.string(), fc.integer()));
    fc.assert(
      fc.property(json, fc.constantFrom('\t', 2, 4, 0), fc.boolean(), fc.integer({ min: 1, max: 3 }), (cfg, indent, newline, times) => {
        const file = join(dir, 'daemon.json');
        const original = JSON.stringify(cfg, null, indent) + (newline ? '\n' : '');
        writeFileSync(file, original);
        for (let i = 0; i < times; i++) installDaemonJson(file, '/s', i % 2 === 1);
        expect(readdirSync(dir).filter((f) => f.includes('backup'))).toHaveLength(1);
        expect(restoreDaemonJson(file).action).toBe('restored');
        expect(readFileSync(file, 'utf8')).toBe(original);
        expect(readdirSync(dir)).toEqual(['daemon.json']);
      }),
      { numRuns: 60 },
    );
  });

  test('no file before: install creates it with a marker, uninstall removes both', () => {
    const file = join(dir, 'daemon.json');
    installDaemonJson(file, '/s', true);
    installDaemonJson(file, '/s', true);
    expect(readdirSync(dir).sort()).toEqual(['daemon.json', 'daemon.json.contid-created']);
    expect(restoreDaemonJson(file)).toEqual({ action: 'removed' });
    expect(readdirSync(dir)).toEqual([]);
    expect(restoreDaemonJson(file)).toEqual({ action: 'absent' });
  });
});
describe('daemon.json editing', () => {
  test('keeps other keys and runtimes; idempotent; removal restores the original', () => {
    const original = '{"log-driver":"journald","runtimes":{"nvidia":{"path":"/n"}}}';
    const added = addRuntime(original, '/s', { makeDefault: true });
    expect(added.changed).toBe(true);
    expect(JSON.parse(added.text)).toEqual({ 'log-driver': 'journald', runtimes: { nvidia: { path: '/n' }, contid: { path: '/s' } }, 'default-runtime': 'contid' });
    expect(addRuntime(added.text, '/s', { makeDefault: true }).changed).toBe(false);
    expect(JSON.parse(removeRuntime(added.text).text)).toEqual(JSON.parse(original));
    expect(addRuntime('', '/s').text).toBe('{\n  "runtimes": {\n    "contid": {\n      "path": "/s"\n    }\n  }\n}\n');
    expect(() => addRuntime('{"runtimes":[]}', '/s')).toThrow(/"runtimes" is not an object/);
  });
});
