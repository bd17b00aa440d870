import { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configuredRootfs, lxcRootNamer, pathRecordRoot } from '../src';

describe('naming an entry root with the host LXC containers', () => {
  it('spells a root as a PATH record does (dev=MAJ:MIN in hex, then the inode)', () => {
    expect(pathRecordRoot({ dev: 0xfe00, ino: 1622071 })).toBe('fe:00:1622071');
    expect(pathRecordRoot({ dev: 0x700, ino: 2 })).toBe('07:00:2');
    // minors above 255 (new_encode_dev puts their high bits above the major)
    expect(pathRecordRoot({ dev: 0x100703, ino: 9 })).toBe('07:103:9');
  });

  it.each([
    ['lxc.rootfs.path = dir:/var/lib/lxc/web/rootfs', '/var/lib/lxc/web/rootfs'],
    ['lxc.rootfs.path = /srv/roots/web', '/srv/roots/web'],
    ['lxc.rootfs.path=dir:/a\nlxc.rootfs.path = dir:/b', '/b'],
    ['lxc.uts.name = web', '/var/lib/lxc/web/rootfs'],
    ['lxc.rootfs.path = loop:/srv/web.img', null],
    ['lxc.rootfs.path = lvm:/dev/vg/web', null],
    ['lxc.rootfs.path = overlay:/a:/b', null],
  ])('%j: the rootfs to stat is %s', (config, rootfs) => {
    expect(configuredRootfs(config, '/var/lib/lxc', 'web')).toBe(rootfs);
  });

  it('names a root by the config of each container under the lxcpath; an unknown root is null', () => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-lxcpath-'));
    try {
      mkdirSync(join(dir, 'web', 'rootfs'), { recursive: true });
      writeFileSync(join(dir, 'web', 'config'), 'lxc.uts.name = web\n');
      mkdirSync(join(dir, 'elsewhere'));
      mkdirSync(join(dir, 'roots', 'db'), { recursive: true });
      writeFileSync(join(dir, 'elsewhere', 'config'), `lxc.rootfs.path = dir:${join(dir, 'roots', 'db')}\n`);
      const namer = lxcRootNamer(null, { lxcPath: dir, procRoot: join(dir, 'no-proc') });
      const web = statSync(join(dir, 'web', 'rootfs'));
      // the directory's birth time (statx): an entry older than it was into an earlier directory
      expect(web.birthtimeMs).toBeGreaterThan(0);
      expect(namer(pathRecordRoot(web))).toEqual({ name: 'web', contid: null, bornMs: web.birthtimeMs });
      const db = statSync(join(dir, 'roots', 'db'));
      expect(namer(pathRecordRoot(db))).toEqual({ name: 'elsewhere', contid: null, bornMs: db.birthtimeMs });
      expect(namer(pathRecordRoot(statSync(dir)))).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  // Outside attack 16, F2: tail keeps one namer for its lifetime; a root it had found kept its
  // first name, so a destroyed container's inode, given to the next rootfs, named the old one.
  it('a long-lived namer (refreshMs) names whoever holds a root now: a destroyed rootfs inode given to the next rootfs names the next', async () => {
    // on disk (ext4 gives a freed inode to the next directory made; tmpfs never reuses numbers)
    const dir = mkdtempSync(join('/var/tmp', 'contid-lxcpath-'));
    try {
      mkdirSync(join(dir, 'old', 'rootfs'), { recursive: true });
      writeFileSync(join(dir, 'old', 'config'), 'lxc.uts.name = old\n');
      const namer = lxcRootNamer(null, { lxcPath: dir, procRoot: join(dir, 'no-proc'), refreshMs: 50 });
      const root = pathRecordRoot(statSync(join(dir, 'old', 'rootfs')));
      expect(namer(root)?.name).toBe('old');
      rmSync(join(dir, 'old'), { recursive: true });
      let next: string | null = null;
      for (let i = 0; i < 100 && next === null; i++) {
        mkdirSync(join(dir, `next${i}`, 'rootfs'), { recursive: true });
        writeFileSync(join(dir, `next${i}`, 'config'), `lxc.uts.name = next${i}\n`);
        if (pathRecordRoot(statSync(join(dir, `next${i}`, 'rootfs'))) === root) next = `next${i}`;
      }
      expect(next).not.toBeNull();
      await new Promise((done) => setTimeout(done, 60));
      expect(namer(root)).toEqual({ name: next, contid: null, bornMs: statSync(join(dir, next!, 'rootfs')).birthtimeMs });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
