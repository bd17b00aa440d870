import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Server, Socket, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditSink, Tagger, decodeValue } from '@contid/core';
import { messageLength, parseMessage, unitObjectPath } from '../src/dbus-wire';
import { SystemdEndFollower } from '../src/end-follower';
import { checkedInvocation } from '../src/invocation';
import { bindInvocation } from '../src/unit-container';
import { propertiesChanged, reply } from './dbus-fixtures';

/** Keeps the records' text: the tests read the end's reason. */
class MemorySink implements AuditSink {
  readonly sent: string[] = [];
  send(_type: number, message: string): void {
    this.sent.push(message);
  }
  close(): void {}
}

/**
 * PID 1's side of the private bus, as far as the follower uses it: EXTERNAL auth, Subscribe,
 * GetUnit and GetAll answered from `units`, and signals the test sends.
 */
class FakePid1 {
  readonly server: Server;
  peer: Socket | null = null;
  serial = 100;
  /** unit → its invocation id and states, as GetUnit/GetAll answer. */
  units = new Map<string, { id: string; state: string; sub: string; result: string; code: number; status: number }>();

  constructor(readonly path: string) {
    this.server = createServer((s) => {
      this.peer = s;
      let authed = false;
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (!authed) {
          const text = buf.toString('latin1');
          if (!text.includes('BEGIN\r\n')) {
            if (text.includes('AUTH EXTERNAL') && text.endsWith('\r\n')) s.write('OK 0123456789abcdef0123456789abcdef\r\n');
            return;
          }
          buf = buf.subarray(text.indexOf('BEGIN\r\n') + 7);
          authed = true;
        }
        for (let n = messageLength(buf); n !== null; n = messageLength(buf)) {
          const m = parseMessage(buf.subarray(0, n));
          buf = buf.subarray(n);
          this.answer(s, m.serial, m.member!, m.body, m.path!);
        }
      });
    });
  }

  private answer(s: Socket, serial: number, member: string, body: unknown[], path: string): void {
    const unitAt = (p: string) => [...this.units].find(([u]) => unitObjectPath(u) === p);
    if (member === 'Subscribe') return void s.write(reply(++this.serial, serial, {}));
    if (member === 'GetUnit') {
      const u = this.units.has(body[0] as string);
      return void s.write(reply(++this.serial, serial, u ? { o: unitObjectPath(body[0] as string) } : { error: 'org.freedesktop.systemd1.NoSuchUnit' }));
    }
    const found = unitAt(path);
    if (member === 'GetAll' && found) {
      const [, u] = found;
      const props: [string, 's' | 'i' | 'ay', string | number | Buffer][] =
        body[0] === 'org.freedesktop.systemd1.Unit'
          ? [['ActiveState', 's', u.state], ['SubState', 's', u.sub], ['InvocationID', 'ay', Buffer.from(u.id, 'hex')]]
          : [['Result', 's', u.result], ['ExecMainCode', 'i', u.code], ['ExecMainStatus', 'i', u.status]];
      return void s.write(reply(++this.serial, serial, { props }));
    }
    s.write(reply(++this.serial, serial, { error: 'org.freedesktop.DBus.Error.UnknownMethod' }));
  }

  /** One state change of `unit`, as PID 1 sends it: the Service properties, then the Unit's. */
  change(unit: string, id: string, state: string, sub: string, exit = { result: 'success', code: 0, status: 0 }): void {
    const path = unitObjectPath(unit);
    this.peer!.write(
      Buffer.concat([
        propertiesChanged(++this.serial, path, 'org.freedesktop.systemd1.Service', [['Result', 's', exit.result], ['ExecMainCode', 'i', exit.code], ['ExecMainStatus', 'i', exit.status]]),
        propertiesChanged(++this.serial, path, 'org.freedesktop.systemd1.Unit', [['ActiveState', 's', state], ['SubState', 's', sub], ['InvocationID', 'ay', Buffer.from(id, 'hex')]]),
      ]),
    );
  }
}

const settle = async (probe: () => boolean, ms = 3000): Promise<void> => {
  for (const end = Date.now() + ms; !probe() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
};

describe('contid serve learns ends from PID 1 (a fake PID 1 on a private socket)', () => {
  const UNIT = 'web.service';
  let dir: string;
  let tagger: Tagger;
  let pid1: FakePid1;
  let follower: SystemdEndFollower;
  let waiting: Set<string>;
  let sink: MemorySink;
  let nextSession = 3_200_000_000;
  const logs: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'contid-end-follower-'));
    const proc = join(dir, 'proc');
    mkdirSync(join(proc, 'self'), { recursive: true });
    writeFileSync(join(proc, 'self', 'sessionid'), '4294967295');
    tagger = Tagger.open({ stateDir: join(dir, 'state'), writePath: 'session', failPolicy: 'closed', nodeName: 'follower-test', procRoot: proc }, { sink: (sink = new MemorySink()), trustedCaller: true });
    writeFileSync(join(dir, 'units'), `${UNIT}\n`);
    pid1 = new FakePid1(join(dir, 'private'));
    await new Promise<void>((r) => pid1.server.listen(pid1.path, r));
    waiting = new Set();
    logs.length = 0;
    follower = new SystemdEndFollower(tagger, { waitingIds: () => waiting }, (l) => logs.push(l), pid1.path, join(dir, 'units'));
  });
  afterEach(async () => {
    follower.stop();
    await new Promise((r) => pid1.server.close(r));
    tagger.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const bind = (id: string, unit = UNIT) => bindInvocation(tagger, checkedInvocation(id, unit, `/system.slice/${unit}`), { pid: process.pid, session: nextSession++ }, {}, null).container;
  const connected = async () => {
    follower.start();
    await settle(() => follower.connected && pid1.peer !== null);
    // Subscribe and the catch-up answered.
    await new Promise((r) => setTimeout(r, 50));
  };
  const stateOf = (id: string) => tagger.containers.findByRuntimeId(id)?.state;
  /** The reason of the end record of `id` (records name the invocation as uuid=). */
  const reasonOf = (id: string) => {
    const end = sink.sent.find((m) => m.includes('op=end') && m.includes(id));
    const raw = end && /reason=("[^"]*"|\S+)/.exec(end)?.[1];
    return raw && decodeValue(raw);
  };

  test("an invocation ends with systemd's reason when it goes inactive after running; each start's first signal (inactive, new id) is no end", async () => {
    const a = 'a'.repeat(32);
    await connected();
    bind(a);
    pid1.change(UNIT, a, 'inactive', 'dead'); // how every start begins: the new id, still inactive
    pid1.change(UNIT, a, 'activating', 'start');
    await new Promise((r) => setTimeout(r, 50));
    expect(stateOf(a)).toBe('running');
    pid1.change(UNIT, a, 'failed', 'failed', { result: 'exit-code', code: 1, status: 3 });
    await settle(() => stateOf(a) === 'ended');
    expect(stateOf(a)).toBe('ended');
    expect(reasonOf(a)).toMatch(/service-result:exit-code,exit-code:exited,exit-status:3/);
    expect(logs).toContain(`end ${a} -> contid ${tagger.containers.findByRuntimeId(a)!.contid}`);
  });

  test('Restart= waiting to start again (auto-restart) ends the old invocation; its entries still in the spool hold the end until bound', async () => {
    const a = 'b'.repeat(32);
    await connected();
    pid1.change(UNIT, a, 'activating', 'start');
    waiting.add(a); // its first line not bound yet
    pid1.change(UNIT, a, 'activating', 'auto-restart', { result: 'exit-code', code: 1, status: 3 });
    await new Promise((r) => setTimeout(r, 120));
    bind(a);
    expect(stateOf(a)).toBe('running');
    waiting.delete(a);
    await settle(() => stateOf(a) === 'ended');
    expect(stateOf(a)).toBe('ended');
  });

  test("another unit's signal naming the invocation (a unit's Environment= can set INVOCATION_ID) ends nothing", async () => {
    const a = 'c'.repeat(32);
    writeFileSync(join(dir, 'units'), `${UNIT}\nevil.service\n`);
    await connected();
    bind(a);
    pid1.change('evil.service', a, 'active', 'running');
    pid1.change('evil.service', a, 'inactive', 'dead');
    await new Promise((r) => setTimeout(r, 150));
    expect(stateOf(a)).toBe('running');
  });

  test("a new invocation's line waits for the old one's end from the stream, then binds; the old one keeps systemd's reason", async () => {
    const [a, b] = ['d'.repeat(32), 'e'.repeat(32)];
    await connected();
    pid1.change(UNIT, a, 'active', 'running');
    bind(a);
    await new Promise((r) => setTimeout(r, 50));
    expect(follower.beforeBind(UNIT, b)).toMatch(/^waiting for systemd to end web\.service invocation d{32} before e{32}$/);
    pid1.change(UNIT, a, 'inactive', 'dead', { result: 'success', code: 2, status: 15 });
    pid1.change(UNIT, b, 'inactive', 'dead');
    await settle(() => stateOf(a) === 'ended');
    expect(reasonOf(a)).toMatch(/service-result:success,exit-code:killed,exit-status:TERM/);
    expect(follower.beforeBind(UNIT, b)).toBeNull();
    // And with the stream silent, after 2 s of serve's own time, the line goes on (supersedes, as before).
    const c = 'f'.repeat(32);
    bind(b);
    const t0 = Date.now();
    expect(follower.beforeBind(UNIT, c, t0)).not.toBeNull();
    expect(follower.beforeBind(UNIT, c, t0 + 2_000)).toBeNull();
  });

  test('at connect, ends missed while serve was down: a unit not loaded or running another invocation ends as found stopped, the same one inactive with its reason; a running one stays', async () => {
    const [gone, other, same, live] = ['1'.repeat(32), '2'.repeat(32), '3'.repeat(32), '4'.repeat(32)];
    bind(gone, 'gone.service');
    bind(other, 'other.service');
    bind(same, 'same.service');
    bind(live, 'live.service');
    pid1.units.set('other.service', { id: '9'.repeat(32), state: 'active', sub: 'running', result: 'success', code: 0, status: 0 });
    pid1.units.set('same.service', { id: same, state: 'failed', sub: 'failed', result: 'exit-code', code: 1, status: 7 });
    pid1.units.set('live.service', { id: live, state: 'active', sub: 'running', result: 'success', code: 0, status: 0 });
    await connected();
    await settle(() => [gone, other, same].every((i) => stateOf(i) === 'ended'));
    expect([gone, other, same, live].map(stateOf)).toEqual(['ended', 'ended', 'ended', 'running']);
    expect([gone, other, same].map(reasonOf)).toEqual([expect.stringMatching(/found stopped by contid serve/), expect.stringMatching(/found stopped by contid serve/), expect.stringMatching(/service-result:exit-code,exit-code:exited,exit-status:7/)]);
    // …and the live one's end then comes from the stream.
    pid1.change('live.service', live, 'inactive', 'dead');
    await settle(() => stateOf(live) === 'ended');
    expect(stateOf(live)).toBe('ended');
  });
});
