import { ServiceProcess, rawRequest, registrySnapshot, tagSelf } from './harness';

/**
 * Malformed requests on the real service's host channel: each gets an error reply, the
 * registry does not change, and the service keeps serving real clients afterwards.
 */
describe('contid serve: malformed requests (real service process, real kernel)', () => {
  const service = new ServiceProcess('malformed');
  beforeAll(() => service.start());
  afterAll(async () => {
    await service.stop();
    service.cleanup();
  });

  const bad: [string, string][] = [
    ['bad JSON', '{"v":1,"op":"create",'],
    ['not an object', '[1,2,3]'],
    ['a bare string', '"create"'],
    ['no version', '{"op":"show","ref":"x"}'],
    ['future version', '{"v":2,"op":"show","ref":"x"}'],
    ['unknown op', '{"v":1,"op":"rm -rf","ref":"x"}'],
    ['unknown field', '{"v":1,"op":"show","ref":"x","admin":true}'],
    ['name is a number', '{"v":1,"op":"create","orchestrator":"t","name":5,"target":"peer"}'],
    ['empty name', '{"v":1,"op":"create","orchestrator":"t","name":"","target":"peer"}'],
    ['target a stranger', '{"v":1,"op":"create","orchestrator":"t","name":"n","target":"someone"}'],
    ['negative pid', '{"v":1,"op":"create","orchestrator":"t","name":"n","target":{"pid":-1}}'],
    ['pid as text', '{"v":1,"op":"create","orchestrator":"t","name":"n","target":{"pid":"1"}}'],
    ['fractional session', '{"v":1,"op":"create","orchestrator":"t","name":"n","target":{"pid":1,"session":1.5}}'],
    ['labels not strings', '{"v":1,"op":"create","orchestrator":"t","name":"n","target":"peer","labels":{"a":{"b":1}}}'],
    ['parent not an id', '{"v":1,"op":"create","orchestrator":"t","name":"n","target":"peer","parent":"../1"}'],
    ['contid with sql', `{"v":1,"op":"end","contid":"1 OR 1=1"}`],
    ['contid too long', '{"v":1,"op":"end","contid":"123456789012345678901234"}'],
    ['relative channel path', '{"v":1,"op":"channel","contid":"1","path":"tmp/x"}'],
    ['name too long', JSON.stringify({ v: 1, op: 'create', orchestrator: 't', name: 'x'.repeat(5000), target: 'peer' })],
    ['NUL bytes', '{"v":1,"op":"show","ref":"\u0000\u0000"}\u0000'],
  ];

  it.each(bad)('rejects %s with a protocol error reply and changes nothing', (_what, line) => {
    const before = registrySnapshot(service.stateDir);
    const { lines } = rawRequest(service.socket, line + '\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ v: 1, ok: false });
    expect(['protocol', 'failed']).toContain(lines[0].code);
    expect(String(lines[0].error)).not.toMatch(/\n|at .*\.js:\d+/); // one line, no stack
    expect(registrySnapshot(service.stateDir)).toEqual(before);
    expect(service.alive()).toBe(true);
  });

  it('answers every line of a pipelined batch in order, invalid requests and good mixed', () => {
    const { lines } = rawRequest(service.socket, '{"v":1,"op":"nope"}\n{"v":1,"id":"a","op":"show","ref":"none-such"}\n\n{"v":2}\n');
    expect(lines.map((l) => [l.id ?? null, l.ok, l.code])).toEqual([
      [null, false, 'protocol'],
      ['a', false, 'failed'],
      [null, false, 'protocol'],
    ]);
  });

  // Outside attack 11, L0: dockerd's syslog log driver pointed at the host channel by a user in
  // group docker writes `<PRI>TIME TAG[PID]: LINE` — her tag's newlines carried JSON requests
  // after it, and dockerd is uid 0 with CAP_AUDIT_CONTROL: serve ran them as the host's.
  it('a line that is not a JSON object ends the connection: the requests after it are never run', () => {
    const before = registrySnapshot(service.stateDir);
    const forged = '{"v":1,"id":"forged","op":"create","orchestrator":"docker","name":"malformed-forged","target":"peer"}';
    const { lines } = rawRequest(service.socket, `{"v":1,"id":"first","op":"show","ref":"none-such"}\n<30>Nov 30 23:50:56 x\n${forged}\ny[4242]: hello\n`);
    expect(lines.map((l) => [l.id ?? null, l.ok, l.code])).toEqual([
      ['first', false, 'failed'],
      [null, false, 'protocol'],
    ]);
    expect(registrySnapshot(service.stateDir)).toEqual(before);
    expect(service.alive()).toBe(true);
    // fluentd's msgpack: the same
    const packed = rawRequest(service.socket, Buffer.concat([Buffer.from([0x93, 0xa4]), Buffer.from(`x\n${forged}\n`)]));
    expect(packed.lines.map((l) => l.id ?? null)).toEqual([null]);
    expect(registrySnapshot(service.stateDir)).toEqual(before);
  });

  it('refuses a 4 MB request without buffering it, closes that connection, and keeps serving', () => {
    const { lines } = rawRequest(service.socket, Buffer.alloc(4 * 1024 * 1024, 'a'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ ok: false, code: 'protocol' });
    expect(String(lines[0].error)).toMatch(/larger than 65536 bytes/);
    expect(service.alive()).toBe(true);
  });

  it('refuses an oversized line that does end in a newline', () => {
    const huge = JSON.stringify({ v: 1, op: 'show', ref: 'x', pad: 'y'.repeat(200_000) }) + '\n';
    const { lines } = rawRequest(service.socket, huge);
    expect(lines[0]).toMatchObject({ ok: false, code: 'protocol' });
  });

  it("still tags a real client after all of that", () => {
    const r = tagSelf(service.socket, 'after-malformed', { env: service.env });
    expect(r.reply).toMatchObject({ ok: true });
    const snap = registrySnapshot(service.stateDir);
    expect(snap.containers.map((c) => c.name)).toEqual(['after-malformed']);
    expect(snap.bindings).toHaveLength(1);
    expect(snap.integrity).toBe('ok');
    expect(service.log).toContain('protocol: request is not valid JSON');
  });
});
