import { join } from 'node:path';
import { ContidError } from '@contid/core';
import { searchLogs } from '@contid/audit';

// A mistyped name must not read as a quiet container: no binding in the logs names it → an error.
test('search --container with a ref no binding names: one clear error (exit 1), not an empty answer', () => {
  const file = join(__dirname, 'fixtures', 'session-raw.log');
  let thrown: unknown;
  try {
    searchLogs({ files: [file], filter: { container: 'no-such-name' }, onEvent: () => undefined });
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(ContidError);
  // (the fixture's binding is unsigned: the line also says it could not be verified)
  expect((thrown as ContidError).message).toMatch(/^unknown container "no-such-name": no binding in the logs read names it( \(rejected \d+ binding record\(s\) that could not be verified: .*\))?$/);
  expect((thrown as ContidError).exitCode).toBe(1);
});
