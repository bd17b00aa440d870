import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKoffi } from '@contid/core';
import { cgroupInvocation } from '../src/cgroup-invocation';

/**
 * The unit cgroup's trusted.invocation_id, as systemd writes it (32 hex, no NUL), read through
 * libc. A directory stands in for the cgroup; root sets the xattr as PID 1 does (trusted.* needs
 * CAP_SYS_ADMIN, which this suite has as root).
 */
const root = mkdtempSync(join(tmpdir(), 'contid-cginv-'));
const setxattr = loadKoffi().load('libc.so.6').func('int setxattr(const char *path, const char *name, const uint8_t *value, size_t size, int flags)') as (p: string, n: string, v: Buffer, s: number, f: number) => number;
const ID = '3f1e0c6f2f3b4c8e9a0b1c2d3e4f5a6b';

beforeAll(() => {
  mkdirSync(join(root, 'system.slice/a.service'), { recursive: true });
  mkdirSync(join(root, 'system.slice/b.service'), { recursive: true });
  expect(setxattr(join(root, 'system.slice/a.service'), 'trusted.invocation_id', Buffer.from(ID), 32, 0)).toBe(0);
  // user.* is writable by the cgroup's owner (a delegated unit's user): never read.
  setxattr(join(root, 'system.slice/b.service'), 'user.invocation_id', Buffer.from(ID), 32, 0);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('cgroupInvocation', () => {
  test('the id systemd wrote on the unit cgroup', () => {
    expect(cgroupInvocation('/system.slice/a.service', [root])).toEqual({ kind: 'id', id: ID });
  });
  test('a cgroup without trusted.invocation_id (user.invocation_id is not taken): unknown', () => {
    expect(cgroupInvocation('/system.slice/b.service', [root]).kind).toBe('unknown');
  });
  test('a cgroup that is gone (the run ended): gone', () => {
    expect(cgroupInvocation('/system.slice/c.service', [root])).toEqual({ kind: 'gone' });
  });
  test('a path from an entry that climbs out of the root is never looked at', () => {
    expect(cgroupInvocation('/system.slice/../system.slice/a.service', [root]).kind).toBe('unknown');
    expect(cgroupInvocation('system.slice/a.service', [root]).kind).toBe('unknown');
  });
});
