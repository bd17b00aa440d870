import fc from 'fast-check';
import { containerCreateRefusal, execCreateRefusal, foldKey, repeatedKey, volumeCreateRefusal } from '@contid/docker';

const dup = (text: string): string | null => repeatedKey(text, foldKey);

describe('repeatedKey: a key given twice in one object, after Go-style folding (outside attack 8 F1)', () => {
  test.each<[string, string, string | null]>([
    ['no object', '[1,"a",null,true]', null],
    ['distinct keys', '{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}', null],
    ['same key in sibling objects', '[{"a":1},{"a":1}]', null],
    ['same key at different depths', '{"a":{"a":{"a":1}}}', null],
    ['top level', '{"HostConfig":{"Binds":["/:/host"]},"HostConfig":{}}', 'HostConfig'],
    ['folded case', '{"HostConfig":{},"hostconfig":{}}', 'hostconfig'],
    ['unicode fold (Kelvin sign)', '{"k":1,"\u212a":2}', '\u212a'],
    ['long s folds to s', '{"s":1,"\u017f":2}', '\u017f'],
    ['\\u escape in the key', '{"HostConfig":{},"Host\\u0043onfig":{}}', 'HostConfig'],
    ['\\u escape, lower case hex', '{"Host\\u0063onfig":{},"HOSTCONFIG":{}}', 'HOSTCONFIG'],
    ['nested', '{"HostConfig":{"Mounts":[{"VolumeOptions":{"DriverConfig":{},"DriverConfig":{"Options":{}}}}]}}', 'DriverConfig'],
    ['inside an array of objects', '[{"a":1},{"b":1,"B":2}]', 'B'],
    ['map keys', '{"DriverOpts":{"type":"none","device":"/"},"DriverOpts":{"type":"tmpfs"}}', 'DriverOpts'],
    ['key-like text in a value', '{"a":"\\"a\\":1,","b":"{\\"b\\":1}"}', null],
    ['escaped backslash before the closing quote', '{"a\\\\":1,"b":"x\\\\","a\\\\":2}', 'a\\'],
    ['brackets and commas inside strings', '{"a":"}]{[,","a,":"a"}', null],
    ['a repeated key after a nested object closed', '{"a":{"x":1,"y":[1,{"z":2}]},"b":2,"a":3}', 'a'],
    ['whitespace everywhere', ' { "a" : 1 ,\n\t"A" : 2 } ', 'A'],
    ['empty key twice', '{"":1,"":2}', ''],
    ['surrogate pair escape', '{"\\ud83d\\ude00":1,"😀":2}', '😀'],
  ])('%s', (_name, text, want) => {
    JSON.parse(text); // the scanner is given only what JSON.parse accepted
    expect(dup(text)).toBe(want);
  });

  test('property: a JSON text of objects with distinct folded keys has none; repeating any one key of any object is found', () => {
    const key = fc.oneof(fc.string(), fc.constantFrom('HostConfig', 'hostconfig', 'Binds', 'K', '\u212a', 'a"b', 'a\\', '\u0000'));
    // Objects are kept as entry lists, so that a repeat can be put into any one of them.
    type Node = { obj: [string, Node][] } | { arr: Node[] } | { leaf: unknown };
    const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node; obj: Node; arr: Node }>((tie) => ({
      node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.jsonValue({ maxDepth: 0 }).map((leaf) => ({ leaf })), tie('arr'), tie('obj')),
      arr: fc.array(tie('node'), { maxLength: 3 }).map((arr) => ({ arr })),
      obj: fc.uniqueArray(fc.tuple(key, tie('node')), { maxLength: 4, selector: ([k]) => foldKey(k) }).map((obj) => ({ obj })),
    })).obj;
    const text = (n: Node, escapeKeys: boolean): string => {
      if ('leaf' in n) return JSON.stringify(n.leaf);
      if ('arr' in n) return `[${n.arr.map((x) => text(x, escapeKeys)).join(', ')}]`;
      const k = (s: string): string => (escapeKeys ? `"${s.split('').map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(s));
      return `{${n.obj.map(([key, v]) => `${k(key)}: ${text(v, escapeKeys)}`).join(',')}}`;
    };
    const objects = (n: Node): { obj: [string, Node][] }[] => ('leaf' in n ? [] : 'arr' in n ? n.arr.flatMap(objects) : [n, ...n.obj.flatMap(([, v]) => objects(v))]);
    fc.assert(
      fc.property(node, fc.boolean(), fc.nat(), fc.nat(), fc.boolean(), (root, escapeKeys, which, at, upper) => {
        expect(dup(text(root, escapeKeys))).toBeNull();
        const withKeys = objects(root).filter((o) => o.obj.length > 0);
        if (!withKeys.length) return;
        const o = withKeys[which % withKeys.length]!;
        const [k] = o.obj[at % o.obj.length]!;
        const again = upper ? k.toUpperCase() : k;
        o.obj.push([again, { leaf: 1 }]);
        const found = dup(text(root, escapeKeys));
        expect(found).not.toBeNull();
        expect(foldKey(found!)).toBe(foldKey(k));
      }),
      { numRuns: 500 },
    );
  });
});

/** Mallory's bodies of outside attack 8 (A1b, A2, A3) and the like. */
const MALLORY_BODIES: Record<string, string> = {
  'create: HostConfig twice (A1b)': '{"Image":"busybox","Cmd":["id"],"HostConfig":{"Binds":["/:/host"],"PidMode":"host"},"HostConfig":{}}',
  'create: HostConfig twice, the second spelled with an escape': '{"Image":"busybox","HostConfig":{"Privileged":true},"Host\\u0043onfig":{}}',
  'create: a Mounts entry with DriverConfig twice (A3)': '{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/"}},"DriverConfig":{"Options":{}}}}]}}',
  'create: Sysctls keys twice': '{"Image":"busybox","HostConfig":{"Sysctls":{"x":"1","X":"2"}}}',
  'volume: DriverOpts twice (A2)': '{"Name":"atk8-v","DriverOpts":{"type":"none","o":"bind","device":"/etc"},"DriverOpts":{"type":"tmpfs"}}',
  'exec: Privileged twice': '{"Cmd":["id"],"Privileged":true,"privileged":false}',
};

describe('a judged body with a repeated key is refused (outside attack 8 F1: dockerd merges, JSON.parse keeps the last)', () => {
  const ctx = { uid: 1001, runtimes: { defaultRuntime: 'contid', contid: new Set(['contid']) }, lstat: () => { throw new Error('no host path may be looked at'); } };
  test.each(Object.entries(MALLORY_BODIES))('%s', (name, body) => {
    const refusal = name.startsWith('volume') ? volumeCreateRefusal(Buffer.from(body)) : name.startsWith('exec') ? execCreateRefusal(Buffer.from(body)) : containerCreateRefusal(Buffer.from(body), ctx);
    expect(refusal).toMatchObject({ why: expect.stringMatching(/repeats the key/) });
    expect(`${refusal!.what}: ${refusal!.why}`).not.toMatch(/\n/);
  });
});
