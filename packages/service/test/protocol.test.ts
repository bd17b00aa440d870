import fc from 'fast-check';
import { ProtocolError, parseRequest } from '@contid/service';

/** The request parser is the service's first line of defence: it must never throw anything but a ProtocolError. */
describe('service protocol: request validation', () => {
  it('accepts each well-formed request kind and keeps only known fields', () => {
    expect(parseRequest('{"v":1,"id":"7","op":"create","orchestrator":"docker","name":"web","target":"peer","labels":{"a":"b"},"parent":{"session":3}}')).toEqual({
      v: 1,
      id: '7',
      op: 'create',
      orchestrator: 'docker',
      name: 'web',
      runtimeId: undefined,
      image: undefined,
      labels: { a: 'b' },
      parent: { session: 3 },
      target: 'peer',
      detail: undefined,
    });
    expect(parseRequest('{"v":1,"op":"setns","contid":"42","target":{"pid":9,"session":4}}')).toMatchObject({ op: 'setns', target: { pid: 9, session: 4 } });
    expect(parseRequest('{"v":1,"op":"end","contid":"42","reason":"stopped"}')).toMatchObject({ op: 'end', reason: 'stopped' });
    expect(parseRequest('{"v":1,"op":"channel","contid":"42","path":"/run/contid/nested/42"}')).toMatchObject({ op: 'channel' });
  });

  it.each([
    ['{"v":1,"op":"create","orchestrator":"d","name":"n","target":{"pid":0}}', /target.pid/],
    ['{"v":1,"op":"create","orchestrator":"d","name":"n","target":{"pid":1,"uid":0}}', /unknown field "uid"/],
    ['{"v":1,"op":"create","orchestrator":"d","name":"n","target":"peer","parent":{"session":1,"x":1}}', /unknown field "x"/],
    ['{"v":1,"op":"end","contid":"-1"}', /container ID in decimal/],
    ['{"v":1,"op":"show","ref":["x"]}', /"ref" must be a non-empty string/],
  ])('rejects %s', (line, reason) => {
    expect(() => parseRequest(line)).toThrow(reason);
  });

  it('never throws anything but ProtocolError, whatever JSON arrives', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom('create', 'setns', 'end', 'show', 'channel'), (value, op) => {
        for (const candidate of [value, { v: 1, op, ...(typeof value === 'object' && value && !Array.isArray(value) ? value : { x: value }) }]) {
          try {
            parseRequest(JSON.stringify(candidate));
          } catch (e) {
            if (!(e instanceof ProtocolError)) throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
