import { closeSync, createReadStream, createWriteStream, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';
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
 * once into a private temporary copy (search reads its inputs twice; private-copy.ts: nothing
 * is left behind, however the process ends). A corrupt archive is one line and exit 1.
 */
export async function gunzipInputs(files: string[], names = files): Promise<{ files: string[]; cleanup: () => void; temporary: boolean }> {
  if (!files.some(isGzip)) return { files, cleanup: () => undefined, temporary: false };
  // required only when an input is gzip: zlib and the streams cost every other search ≈ 10 ms CPU
  const { pipeline } = require('node:stream/promises') as typeof import('node:stream/promises');
  const { createGunzip } = require('node:zlib') as typeof import('node:zlib');
  const { privateCopy } = require('./private-copy') as typeof import('./private-copy');
  const copies: { close: () => void }[] = [];
  const cleanup = (): void => copies.forEach((c) => c.close());
  try {
    const out: string[] = [];
    for (const [i, file] of files.entries()) {
      if (!isGzip(file)) {
        out.push(file);
        continue;
      }
      const copy = privateCopy('contid-gunzip-', `${i}-${basename(file).replace(/\.gz$/, '')}`);
      copies.push(copy);
      const plain = copy.path;
      try {
        await pipeline(createReadStream(file), createGunzip(), createWriteStream(plain));
      } catch (err) {
        throw new ContidError(`cannot read ${names[i]}: not a valid gzip file (${(err as Error).message})`, 1);
      }
      out.push(plain);
    }
    return { files: out, cleanup, temporary: true };
  } catch (err) {
    cleanup();
    throw err;
  }
}
