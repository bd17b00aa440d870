import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PidFileWaits } from '@contid/oci';

/**
 * A create or exec entry waits for its runtime's pid file. The Docker agent looked again every
 * 50 ms while runc ran (under load: hundreds of passes per minute, each listing the spool);
 * a watch on the pid file's directory now announces it.
 */
describe('PidFileWaits', () => {
  let dir: string;
  let waits: PidFileWaits;
  let announced: number;
  const settle = () => new Promise((r) => setTimeout(r, 100));
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'contid-pidwait-'));
    announced = 0;
    waits = new PidFileWaits(() => announced++);
  });
  afterEach(() => {
    waits.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('announces a pid file renamed into place (runc) and one written in place (crun), nothing else in the directory', async () => {
    expect(waits.watch([join(dir, 'init.pid'), join(dir, 'exec1.pid')])).toBe(true);
    writeFileSync(join(dir, 'log.json'), '{}');
    await settle();
    expect(announced).toBe(0);
    writeFileSync(join(dir, '.init.pid'), '123');
    renameSync(join(dir, '.init.pid'), join(dir, 'init.pid'));
    await settle();
    expect(announced).toBeGreaterThanOrEqual(1);
    const before = announced;
    writeFileSync(join(dir, 'exec1.pid'), '456');
    await settle();
    expect(announced).toBeGreaterThan(before);
  });

  it('announces at once a file written before its watch was set, and nothing once it is no longer waited for', async () => {
    writeFileSync(join(dir, 'init.pid'), '123');
    waits.watch([join(dir, 'init.pid')]);
    expect(announced).toBe(1);
    waits.watch([]);
    writeFileSync(join(dir, 'init.pid'), '124');
    await settle();
    expect(announced).toBe(1);
  });

  it('says so when a directory cannot be watched (the caller looks again by its timer)', () => {
    expect(waits.watch([join(dir, 'gone', 'init.pid')])).toBe(false);
  });
});
