import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A nested channel as remembered across service restarts. */
export interface StoredChannel {
  contid: string;
  dir: string;
}

const FILE = 'channels.json';

/**
 * The nested channels the service has opened, kept next to the registry so a restart (or a
 * crash) re-opens them: the containers they were bind-mounted into still expect them.
 * Written whole to a temporary file and renamed, so a crash never leaves half a list.
 */
export class ChannelStore {
  constructor(private readonly stateDir: string) {}

  load(): StoredChannel[] {
    try {
      const parsed = JSON.parse(readFileSync(join(this.stateDir, FILE), 'utf8')) as unknown;
      if (!Array.isArray(parsed)) return [];
      return parsed.filter(
        (c): c is StoredChannel => typeof c === 'object' && c !== null && typeof (c as StoredChannel).contid === 'string' && typeof (c as StoredChannel).dir === 'string',
      );
    } catch {
      return [];
    }
  }

  save(channels: StoredChannel[]): void {
    const file = join(this.stateDir, FILE);
    writeFileSync(`${file}.tmp`, JSON.stringify(channels), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
}
