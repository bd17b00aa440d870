import { LogBudget } from '../src/log-budget';
import { TokenBucket } from '../src/limits';

describe('TokenBucket', () => {
  it('gives its burst at once, then refills at its rate', () => {
    let now = 0;
    const b = new TokenBucket(10, 3, () => now);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    expect(b.waitMs()).toBe(100);
    now = 250;
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
    now = 10_000;
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });
});

describe('LogBudget', () => {
  it('writes a burst per key, then one summary line per window, whatever the flood', () => {
    const lines: string[] = [];
    const budget = new LogBudget((l) => lines.push(l), (key) => (key === 'host' ? 5 : 2), 60_000);
    for (let i = 0; i < 100_000; i++) budget.note('nested', i % 3 === 0 ? 'denied' : 'protocol', `line ${i}`);
    budget.note('host', 'ok', 'host line');
    budget.close();
    expect(lines).toEqual(['line 0', 'line 1', 'host line', 'nested: 99998 more requests not logged one by one (protocol 66665, denied 33333)']);
  });
});
