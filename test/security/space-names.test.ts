import { contid, tempStateDir, uniqueName } from '../helpers/cli';

/**
 * A name is the caller's to choose (`contid exec --name`, a nested orchestrator's children): one
 * holding a space of another kind — EM SPACE, IDEOGRAPHIC SPACE, OGHAM SPACE MARK… — printed
 * raw by ps and show looks like a word break, so `web\u2003(contid 5)` reads as container `web`
 * followed by another column. The real CLI, as an administrator runs it.
 */
describe('names holding a space of any kind print escaped in ps and show', () => {
  const state = tempStateDir('space-names');
  afterAll(() => state.cleanup());

  // Every Unicode White_Space character that is not ASCII (the ASCII ones are controls or the
  // space itself), with the escape escapeText writes for it; then a few blank or invisible ones.
  const spaces: [string, string][] = [
    ['\u0085', '\\x85'],
    ['\u00a0', '\\xa0'],
    ['\u1680', '\\u1680'],
    ...Array.from({ length: 11 }, (_, i): [string, string] => [String.fromCharCode(0x2000 + i), `\\u${(0x2000 + i).toString(16)}`]),
    ['\u2028', '\\u2028'],
    ['\u2029', '\\u2029'],
    ['\u202f', '\\u202f'],
    ['\u205f', '\\u205f'],
    ['\u3000', '\\u3000'],
    // and characters that print as a blank or as nothing although no Unicode space
    ['\u3164', '\\u3164'],
    ['\u2800', '\\u2800'],
    ['\u{e0020}', '\\u{e0020}'],
  ];

  const cases = spaces.map(([space, escaped]) => [space.codePointAt(0)!.toString(16).padStart(4, '0'), space, escaped]);
  it.each(cases)('a name holding U+%s', (_code, space, escaped) => {
    const base = uniqueName('escape-web');
    const name = `${base}${space}(contid 5)`;
    const made = contid(['exec', '--name', name, '--', 'true'], { env: state.env });
    expect([made.status, made.stderr]).toEqual([0, '']);

    const ps = contid(['ps', '--all'], { env: state.env });
    const show = contid(['show', name], { env: state.env });
    for (const r of [ps, show]) {
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain(`${base}${escaped}(contid 5)`);
      expect(r.stdout).not.toContain(space);
    }
    expect(show.stdout).toMatch(new RegExp(`^name: +${base}\\\\`, 'm'));
  });
});
