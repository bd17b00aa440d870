import fc from 'fast-check';
import { parseContainerId } from '@contid/core';
import { Attributor } from '../src/attributor';
import { parseRecord } from '../src/record';
import { SessionMemo } from '../src/session-memo';
import { T, bind, login, sys, trust } from './crafted-records';

/*
 * SessionMemo answers attributeSession from a per-session look-up where the answer cannot
 * depend on the position or time; it must give exactly the attributor's answer everywhere:
 * sessions bound again (LOGINs after bindings), unbound, restored with a boot time, and boots
 * found from serials that drop.
 */

type Step = { kind: 'login' | 'bind' | 'event' | 'restore'; ses: number; contid: number; serial: number; sinceS: number };

const step = fc.record({
  kind: fc.constantFrom<Step['kind']>('login', 'bind', 'bind', 'event', 'restore'),
  ses: fc.integer({ min: 1, max: 4 }),
  contid: fc.integer({ min: 100, max: 103 }),
  // now and then a serial far below the last one: a new boot of the node
  serial: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1000, max: 1_000_000 })),
  sinceS: fc.integer({ min: 0, max: 40 }),
});

/** The attributor after `steps` (each at a position 100 bytes after the one before), and the positions and times used. */
function learn(steps: Step[]): { att: Attributor; end: number } {
  const att = new Attributor({ trust });
  let serial = 1000;
  steps.forEach((s, i) => {
    serial = s.serial < 10 ? s.serial : serial + s.serial;
    const stamp = `${T + i}.000:${serial}`;
    const at = i * 100;
    if (s.kind === 'restore') {
      att.restore([{ session: s.ses, start: at, contid: parseContainerId(String(s.contid)), sinceMs: (T + s.sinceS) * 1000 }], []);
      return;
    }
    const line = s.kind === 'login' ? login('', stamp, s.ses) : s.kind === 'bind' ? bind('', stamp, { session: s.ses, contid: parseContainerId(String(s.contid)), name: `c${s.contid}` }) : sys('', stamp, s.ses, '/usr/bin/ls');
    att.observeRecord(parseRecord(line, at)!);
  });
  return { att, end: steps.length * 100 };
}

describe('SessionMemo', () => {
  it('answers attributeSession exactly as the attributor does, for any bindings and any queries', () => {
    let bound = 0; // answers that name a container: the property is not about nulls alone
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 14 }),
        fc.array(fc.record({ ses: fc.integer({ min: 0, max: 5 }), at: fc.nat(), secs: fc.integer({ min: -5, max: 60 }), serial: fc.integer({ min: 1, max: 5000 }) }), { minLength: 1, maxLength: 30 }),
        (steps, queries) => {
          const { att, end } = learn(steps);
          const memo = new SessionMemo(att);
          for (const q of queries) {
            const at = q.at % (end + 300);
            const timeMs = (T + q.secs) * 1000;
            const session = q.ses === 0 ? null : q.ses;
            const want = att.attributeSession(session, at, null, timeMs, String(q.serial));
            const got = memo.attributeSession(session, at, { node: null, timeMs, serialText: String(q.serial) });
            expect(got?.contid ?? null).toEqual(want?.contid ?? null);
            if (want) bound++;
            if (session !== null) expect(memo.lastEpoch(session, null)).toEqual(att.lastEpoch(session, null));
          }
        },
      ),
      { numRuns: 250 },
    );
    expect(bound).toBeGreaterThan(100);
  });

  it('looks the session up once: later events of it take the answer without asking again', () => {
    const { att } = learn([
      { kind: 'bind', ses: 3, contid: 101, serial: 2000, sinceS: 0 },
      { kind: 'login', ses: 3, contid: 0, serial: 2000, sinceS: 0 }, // the number allocated again at 100
      { kind: 'bind', ses: 3, contid: 102, serial: 2000, sinceS: 0 },
    ]);
    const memo = new SessionMemo(att);
    const asked = jest.spyOn(att, 'attributeSession');
    for (let at = 200; at < 2000; at += 100) expect(memo.attributeSession(3, at, { node: null, timeMs: (T + 5) * 1000, serialText: '9' })?.contid).toBe(parseContainerId('102'));
    expect(asked).not.toHaveBeenCalled();
    // before the last epoch began: the attributor's own walk
    expect(memo.attributeSession(3, 50, { node: null, timeMs: T * 1000, serialText: '1' })?.contid).toBe(parseContainerId('101'));
    expect(asked).toHaveBeenCalledTimes(1);
  });
});
