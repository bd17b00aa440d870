import { Holdings, ThrottledLog } from '../src/front/limits';

const limits = { connections: 3, userConnections: 2, buffered: 100, userBuffered: 60, requestTimeoutMs: 1000 };

describe('Holdings', () => {
  test('connections: at most userConnections per uid and connections in all; a closed one makes room', () => {
    const h = new Holdings(limits);
    expect([h.admit(1), h.admit(1)]).toEqual([null, null]);
    expect(h.admit(1)).toBe('uid 1 has 2 connections open (at most 2)');
    expect(h.admit(2)).toBeNull();
    expect(h.admit(3)).toBe('3 connections are open (at most 3)');
    h.leave(1);
    expect(h.admit(3)).toBeNull();
  });

  test('held bytes: a growth over the uid\'s or the total limit is refused and not counted; shrinking always counts', () => {
    const h = new Holdings(limits);
    expect(h.hold(1, 0, 50)).toBeNull();
    expect(h.hold(1, 0, 20)).toMatch(/^uid 1's connections would hold 70 bytes of unfinished requests \(at most 60\)$/);
    expect(h.hold(2, 0, 50)).toBeNull();
    expect(h.hold(3, 0, 10)).toMatch(/^all connections would hold 110 bytes/);
    expect(h.hold(1, 50, 0)).toBeNull();
    expect(h.hold(3, 0, 10)).toBeNull();
    expect(h.hold(1, 0, 40)).toBeNull();
    expect(h.hold(4, 0, 1)).toMatch(/^all connections would hold 101 bytes/);
  });
});

describe('ThrottledLog', () => {
  test('one line per key every period; the next says how many were held back', () => {
    let t = 0;
    const lines: string[] = [];
    const log = new ThrottledLog((l) => lines.push(l), 10_000, () => t);
    log.line('a', 'A');
    log.line('a', 'A');
    log.line('b', 'B');
    t = 5_000;
    log.line('a', 'A');
    t = 12_000;
    log.line('a', 'A');
    expect(lines).toEqual(['A', 'B', 'A (and 2 more like it in the last 12 s)']);
  });
});
