import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ContidError } from '@contid/core/dist/errors';

function isGzip(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false; // the reader reports unreadable files in its own words
  }
  try {
    const magic = Buffer.alloc(2);
    return readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } catch (e) {
    throw new ContidError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * gzip-compressed logs (logrotate's audit.log.1.gz) read transparently: each is inflated
 * once into a private temporary file (search reads its inputs twice). A corrupt archive is
 * one line and exit 1.
 */
export async function gunzipInputs(files: string[]): Promise<{ files: string[]; cleanup: () => void; temporary: boolean }> {
  if (!files.some(isGzip)) return { files, cleanup: () => undefined, temporary: false };
  // required only when an input is gzip: zlib and the streams cost every other search ≈ 10 ms CPU
  const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
  const { createGunzip } = require('node:zlib') as typeof import('node:zlib');
  const dir = mkdtempSync(join(tmpdir(), 'contid-gunzip-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    const out: string[] = [];
    for (const [i, file] of files.entries()) {
      if (!isGzip(file)) {
        out.push(file);
        continue;
      }
      const plain = join(dir, `${i}-${basename(file).replace(/\.gz$/, '')}`);
      try {
        await pipeline(createReadStream(file), createGunzip(), createWriteStream(plain, { mode: 0o600 }));
      } catch (err) {
        throw new ContidError(`cannot read ${file}: not a valid gzip file (${(err as Error).message})`, 1);
      }
      out.push(plain);
    }
    return { files: out, cleanup, temporary: true };
  } catch (err) {
    cleanup();
    throw err;
  }
}
