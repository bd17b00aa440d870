import { SPACE_LIKE_CLASS, escapeText, toContainerId } from '@contid/core';
import type { AttributedContainer } from '../src/attributor';
import { interpretSeparator } from '../src/format';

/** interpretSeparator makes a container's line once: what it returns must still be the line of the container's values now. */
describe('interpretSeparator', () => {
  const container = (name: string): AttributedContainer => ({ contid: toContainerId(7n), name, orchestrator: 'docker', runtimeId: null, parent: null, image: null });

  it('prints the container, its control characters escaped, and the same line again for the same container', () => {
    const c = container('db\x1b[2J');
    const line = interpretSeparator([c]);
    expect(line).toBe('---- container=db\\033[2J contid=7 orchestrator=docker\n');
    expect(interpretSeparator([c])).toBe(line);
    expect(interpretSeparator([])).toBe('----\n');
  });

  it('makes the line again when a value of the same object changed', () => {
    const c = container('web');
    expect(interpretSeparator([c])).toBe('---- container=web contid=7 orchestrator=docker\n');
    c.name = 'api';
    c.orchestrator = 'kubernetes';
    expect(interpretSeparator([c])).toBe('---- container=api contid=7 orchestrator=kubernetes\n');
    c.contid = toContainerId(8n);
    expect(interpretSeparator([c])).toBe('---- container=api contid=8 orchestrator=kubernetes\n');
  });

  // Core's one space-like class is what both this line and escapeText escape: a name that
  // escapeText would show escaped is escaped here too (in ausearch's \ooo form), never raw.
  it('escapes every character of core\'s space-like class, as escapeText does', () => {
    const spaceLike = new RegExp(`[${SPACE_LIKE_CLASS}]`, 'u');
    const anySpaceLike = new RegExp(`[ ${SPACE_LIKE_CLASS}]`, 'gu');
    let seen = 0;
    for (let code = 0; code < 0x110000; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      const ch = String.fromCodePoint(code);
      if (!spaceLike.test(ch)) continue;
      seen++;
      const line = interpretSeparator([container(`web${ch}contid=5`)]);
      const octal = [...Buffer.from(ch, 'utf8')].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
      expect([code, line]).toEqual([code, `---- container=web${octal}contid\\0755 contid=7 orchestrator=docker\n`]);
      expect(line.slice(4, -1).match(anySpaceLike)).toEqual([' ', ' ', ' ']);
      expect(escapeText(ch)).not.toBe(ch);
    }
    expect(seen).toBeGreaterThan(4000);
  });
});
