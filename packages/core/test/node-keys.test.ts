import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrustStore, loadOrCreateSigner, parsePublicKeyEntry, publishPublicKey, revokePublicKey, rotateSigner } from '@contid/core';

describe('node signing keys and the trust directory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates one private key (0700 dir, 0600 file) and publishes its public key (0644)', () => {
    const trust = join(dir, 'trust');
    const a = loadOrCreateSigner(join(dir, 'state'), 'node-a', trust);
    const b = loadOrCreateSigner(join(dir, 'state'), 'other-name', trust); // the key file keeps its node
    expect([b.keyId, b.node]).toEqual([a.keyId, 'node-a']);
    expect(statSync(join(dir, 'state', 'keys')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'state', 'keys', 'signing.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(trust, `${a.keyId}.json`)).mode & 0o777).toBe(0o644);
    expect(readdirSync(join(dir, 'state', 'keys'))).toEqual(['signing.key']); // no temporary left
    expect(TrustStore.load(trust).get(a.keyId)?.entry.node).toBe('node-a');
  });

  it('eight first-time taggers racing (separate processes) end with one key', async () => {
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    const core = join(__dirname, '..', 'dist', 'index.js');
    const script = `process.stdout.write(require(${JSON.stringify(core)}).loadOrCreateSigner(${JSON.stringify(join(dir, 'state'))}, 'node-a', null).keyId)`;
    const ids = await Promise.all(
      Array.from({ length: 8 }, () => new Promise<string>((done) => {
        const p = spawn(process.execPath, ['-e', script]);
        let out = '';
        p.stdout.on('data', (d: Buffer) => (out += d));
        p.on('close', () => done(out));
      })),
    );
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^[0-9a-f]{16}$/);
    expect(readdirSync(join(dir, 'state', 'keys'))).toEqual(['signing.key']);
  });

  it('refuses a signing key that is a symbolic link or open to others', () => {
    const keys = join(dir, 'state', 'keys');
    mkdirSync(keys, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'planted'), '{}');
    symlinkSync(join(dir, 'planted'), join(keys, 'signing.key'));
    expect(() => loadOrCreateSigner(join(dir, 'state'), 'n', null)).toThrow(/symbolic link/);
    rmSync(join(keys, 'signing.key'));
    chmodSync(keys, 0o755);
    expect(() => loadOrCreateSigner(join(dir, 'state'), 'n', null)).toThrow(/mode 0700/);
  });

  it('rotation keeps the old public key trusted; a revocation sticks even when an old export is imported again', () => {
    const trust = join(dir, 'trust');
    const old = loadOrCreateSigner(join(dir, 'state'), 'node-a', trust);
    const fresh = rotateSigner(join(dir, 'state'), 'node-a', trust);
    expect(fresh.keyId).not.toBe(old.keyId);
    expect(TrustStore.load(trust).entries().map((e) => e.keyId).sort()).toEqual([old.keyId, fresh.keyId].sort());
    revokePublicKey(trust, old.keyId);
    expect(publishPublicKey(trust, old.publicEntry).revoked).toBeDefined();
    expect(TrustStore.load(trust).get(old.keyId)?.entry.revoked).toBeDefined();
  });

  it('an imported entry must be what it claims: its key id is the hash of its key', () => {
    const a = loadOrCreateSigner(join(dir, 'state'), 'node-a', null);
    expect(parsePublicKeyEntry(JSON.stringify(a.publicEntry))).toEqual(a.publicEntry);
    expect(() => parsePublicKeyEntry(JSON.stringify({ ...a.publicEntry, keyId: '0'.repeat(16) }))).toThrow(/has key id/);
    expect(() => parsePublicKeyEntry('not json')).toThrow(/not a contid public key/);
    expect(() => parsePublicKeyEntry(JSON.stringify({ ...a.publicEntry, node: 'bad name\n' }))).toThrow(/not a contid public key/);
  });

  it('a trust directory or key file others can write is skipped, with the reason', () => {
    const trust = join(dir, 'trust');
    loadOrCreateSigner(join(dir, 'state'), 'node-a', trust);
    chmodSync(trust, 0o777);
    const store = TrustStore.load(trust);
    expect([store.size, store.problems[0]]).toEqual([0, expect.stringMatching(/not group\/world-writable/)]);
  });
});
