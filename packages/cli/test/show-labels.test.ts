import { labelWords } from '../src/commands/show';

// `contid show` prints a container's labels on one line: each must read as one label, whatever
// its maker put in it (outside attack 13, F10: `team=ops owner=root` read as two labels).
describe('contid show: labels as words', () => {
  test.each([
    [{ team: 'ops' }, 'team=ops'],
    [{ team: 'ops owner=root' }, 'team="ops owner=root"'],
    [{ 'a b': 'c' }, '"a b"=c'],
    [{ 'k=v': 'x' }, '"k=v"=x'],
    [{ e: '' }, 'e=""'],
    [{ q: 'say "hi"' }, 'q="say \\"hi\\""'],
    [{ t: 'a\tb' }, 't="a\\tb"'],
    [{ a: '1', b: '2' }, 'a=1 b=2'],
    [{}, '-'],
  ])('%j → %s', (labels, words) => {
    expect(labelWords(labels)).toBe(words);
  });
});
