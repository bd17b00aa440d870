import { toContainerId } from '@contid/core';
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
});
