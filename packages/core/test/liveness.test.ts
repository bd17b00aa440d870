import { ContainerRecord, ProcessTable, containerLiveness } from '@contid/core';

const table = (procs: [pid: number, session: number, start: number][]): ProcessTable => {
  const t: ProcessTable = { start: new Map(), session: new Map(), bySession: new Map() };
  for (const [pid, session, start] of procs) {
    t.start.set(pid, start);
    t.session.set(pid, session);
    t.bySession.set(session, [...(t.bySession.get(session) ?? []), pid]);
  }
  return t;
};
const row = (initPid: number | null, initStart: number | null): ContainerRecord =>
  ({ contid: 1n, orchestrator: 'x', name: 'c', state: 'running', initPid, initStart, session: 7 }) as ContainerRecord;

describe('containerLiveness: a container lives while a process carries its session or its init runs', () => {
  it('alive through any process in a bound session, init first in the list', () => {
    expect(containerLiveness(row(10, 500), [7, 9], table([[10, 7, 500], [11, 9, 600], [12, 3, 1]]))).toEqual({ liveness: 'alive', pids: [10, 11] });
  });
  it('a reused pid (another start time) is not the init', () => {
    expect(containerLiveness(row(10, 500), [7], table([[10, 4, 900]]))).toEqual({ liveness: 'gone', pids: [] });
  });
  it('an untagged row (no session of its own) lives by its init alone', () => {
    expect(containerLiveness(row(10, 500), [], table([[10, 4, 500]])).liveness).toBe('alive');
    expect(containerLiveness(row(10, 500), [], table([])).liveness).toBe('gone');
  });
  it('nothing to judge by (no session, no start time): unknown, never guessed gone', () => {
    expect(containerLiveness(row(10, null), [], table([])).liveness).toBe('unknown');
  });
});
