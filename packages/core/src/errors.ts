/**
 * Errors the user can act on. The CLI prints `message` as one line and exits non-zero;
 * anything that is not a ContidError is a bug and keeps its stack.
 */
export class ContidError extends Error {
  override name = 'ContidError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** The caller lacks a privilege the operation needs. */
export class PrivilegeError extends ContidError {
  override name = 'PrivilegeError';
  constructor(message: string) {
    super(message, 77); // EX_NOPERM
  }
}
