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
    for (const [r, gap] of [[ps, '\\x20'], [show, ' ']] as const) {
      expect([r.status, r.stderr]).toEqual([0, '']);
      // ps writes a cell's ASCII spaces escaped too (one word per column), show keeps them
      expect(r.stdout).toContain(`${base}${escaped}(contid${gap}5)`);
      expect(r.stdout).not.toContain(space);
    }
    expect(show.stdout).toMatch(new RegExp(`^name: +${base}\\\\`, 'm'));
  });

  // An ASCII space in a name: ps's columns are split by spaces, so `web running 4242` would
  // read as a name, a state and a pid (outside attack 14). Each ps cell is one word.
  it('a name holding ASCII spaces is one cell in ps, its columns not forged', () => {
    const base = uniqueName('escape-cols');
    const name = `${base} running 4242 2026-01-01T00:00:00Z -`;
    const made = contid(['exec', '--name', name, '--', 'true'], { env: state.env });
    expect([made.status, made.stderr]).toEqual([0, '']);
    const ps = contid(['ps', '--all'], { env: state.env });
    expect([ps.status, ps.stderr]).toEqual([0, '']);
    const row = ps.stdout.split('\n').find((l) => l.includes(base))!;
    const cells = row.trim().split(/\s+/);
    expect(cells).toHaveLength(8);
    expect(cells[3]).toBe(`${base}\\x20running\\x204242\\x202026-01-01T00:00:00Z\\x20-`);
    expect(cells[4]).toBe('ended');
  });
});
