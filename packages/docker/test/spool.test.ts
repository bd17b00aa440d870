import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spool, addRuntime, parseOciProcess, parseOciSpec, parseSpoolEntry, removeRuntime } from '@contid/docker';

describe('spool entries', () => {
  test('parses the shim’s key=value head and its copied sections', () => {
    const text = 'op=setns\nsubcommand=exec\nid=abc\nbundle=/b\npidfile=/p\nprocess=/proc.json\nwrapper-pid=12\nsession=40\nold-session=4294967295\nreason=\n--- process.json\n{"args":["sh","-c","a=b"]}\n';
    const e = parseSpoolEntry('40-setns-12.entry', text, 1234);
    expect(e).toMatchObject({ op: 'setns', id: 'abc', pidFile: '/p', processFile: '/proc.json', wrapperPid: 12, session: 40, oldSession: 4294967295, reason: null, time: 1234, configText: null });
    expect(parseOciProcess(e.processText)?.args).toEqual(['sh', '-c', 'a=b']);
  });

  test('an entry with an unknown op is refused with one line', () => {
    expect(() => parseSpoolEntry('x.entry', 'op=bogus\n')).toThrow(/^spool entry x\.entry: bad op "bogus"$/);
  });

  test('lists complete entries by session number, skipping temp files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-spool-'));
    try {
      for (const n of ['100-create-1.entry', '9-create-2.entry', '.tmp-11-setns-3', '11-setns-3.entry']) writeFileSync(join(dir, n), 'op=create\n');
      expect(new Spool(dir).names()).toEqual(['9-create-2.entry', '11-setns-3.entry', '100-create-1.entry']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('config.json: annotations kept, malformed input reported instead of thrown', () => {
    expect(parseOciSpec('{"annotations":{"a":"1","n":2}}').spec.annotations).toEqual({ a: '1' });
    expect(parseOciSpec('{ nope').error).toMatch(/^config\.json is malformed/);
    expect(parseOciSpec('[]').error).toBe('config.json is not a JSON object');
    expect(parseOciSpec(null).error).toBe('no config.json was copied');
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
