import { parseOciProcess, parseOciSpec } from '@contid/oci';

describe('OCI config parsing', () => {
  test('config.json: annotations kept (strings only), malformed input reported instead of thrown', () => {
    expect(parseOciSpec('{"annotations":{"a":"1","n":2}}').spec.annotations).toEqual({ a: '1' });
    expect(parseOciSpec('{ nope').error).toMatch(/^config\.json is malformed/);
    expect(parseOciSpec('[]').error).toBe('config.json is not a JSON object');
    expect(parseOciSpec(null).error).toBe('no config.json was copied');
  });

  test('process.json: args kept; missing or malformed gives null', () => {
    expect(parseOciProcess('{"args":["sh","-c","a=b"],"cwd":"/"}')).toMatchObject({ args: ['sh', '-c', 'a=b'], cwd: '/' });
    expect(parseOciProcess('nope')).toBeNull();
    expect(parseOciProcess(null)).toBeNull();
  });
});
