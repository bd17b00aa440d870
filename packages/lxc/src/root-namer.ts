import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerId, ContainerQueries } from '@contid/core';
import { openLxcRow } from './attach';
import { configuredLxcPath, lxcInitPid } from './lxc-tools';
import { monitoredContainers } from './monitor-process';

/** `DEV:INODE` as a PATH record spells it (`dev=fe:00 inode=N`): major and minor in hex. */
export function pathRecordRoot(st: { dev: number; ino: number }): string {
  // Linux's new_encode_dev layout, as Node reports st_dev
  const major = (st.dev >> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >>> 12) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
}

/**
 * The rootfs directory a container's config names (`lxc.rootfs.path`, last one wins; `dir:`
 * stripped), or LXC's default `LXCPATH/NAME/rootfs`; null for backings LXC itself mounts at
 * start (loop:, lvm:, zfs: …), whose root exists only while the container runs.
 */
export function configuredRootfs(config: string, lxcPath: string, name: string): string | null {
  let value: string | null = null;
  for (const line of config.split('\n')) {
    const m = /^\s*lxc\.rootfs\.path\s*=\s*(.*?)\s*$/.exec(line);
    if (m) value = m[1];
  }
  if (value === null || value === '') return join(lxcPath, name, 'rootfs');
  if (value.startsWith('dir:')) return value.slice(4);
  return value.startsWith('/') && !value.includes(':') ? value : null;
}

/** A root as a PATH record spells it, and its directory's birth time (null where the filesystem keeps none). */
const statRoot = (path: string): { root: string; bornMs: number | null } | null => {
  try {
    const st = statSync(path);
    return { root: pathRecordRoot(st), bornMs: st.birthtimeMs > 0 ? st.birthtimeMs : null };
  } catch {
    return null;
  }
};

/**
 * Names the root an entry record carries with the host's LXC containers as they are now: the
 * rootfs each config names (a directory, or whatever is mounted on it), then, for a root no
 * config gives, the root of each running container's init (`/proc/PID/root`: loop, LVM and
 * other backings LXC mounts itself). The contid is that of the container's open row, when
 * contid knows it. Read once; with `refreshMs` (tail), read again once that old, and a miss reads the running containers too.
 */
export function lxcRootNamer(
  registry: Pick<ContainerQueries, 'list'> | null,
  options: { lxcPath?: string; procRoot?: string; refreshMs?: number } = {},
): (root: string) => { name: string; contid: ContainerId | null; bornMs: number | null } | null {
  const procRoot = options.procRoot ?? '/proc';
  let roots: Map<string, { name: string; bornMs: number | null }> | null = null;
  let readAt = 0;
  let running = false;
  const read = (withRunning: boolean): void => {
    const lxcPath = options.lxcPath ?? configuredLxcPath();
    const found = new Map<string, { name: string; bornMs: number | null }>();
    let names: string[] = [];
    try {
      names = readdirSync(lxcPath).filter((n) => existsSync(join(lxcPath, n, 'config')));
    } catch {
      // no lxcpath: no LXC container on this host
    }
    for (const name of names) {
      let config = '';
      try {
        config = readFileSync(join(lxcPath, name, 'config'), 'utf8');
      } catch {
        continue;
      }
      const rootfs = configuredRootfs(config, lxcPath, name);
      const root = rootfs === null ? null : statRoot(rootfs);
      if (root !== null && !found.has(root.root)) found.set(root.root, { name, bornMs: root.bornMs });
    }
    if (withRunning) {
      // from /proc, not lxc-ls --running: a squatted command socket would hold lxc-ls for ever
      for (const name of monitoredContainers(lxcPath, procRoot)) {
        const pid = lxcInitPid(name, lxcPath);
        const root = pid === null ? null : statRoot(`${procRoot}/${pid}/root/`);
        if (root !== null && !found.has(root.root)) found.set(root.root, { name, bornMs: root.bornMs });
      }
    }
    roots = found;
    running = withRunning;
    readAt = Date.now();
  };
  return (root) => {
    // a long-lived reader (tail) reads the host again once its view is `refreshMs` old, found
    // root or not: a destroyed container's root inode is given to the next rootfs made, and a
    // view kept for ever would name the old container, born then, for the new one's entries
    // (outside attack 16, F2)
    if (roots === null || Date.now() - readAt >= (options.refreshMs ?? Infinity)) read(false);
    let found = roots!.get(root);
    // the running containers cost an lxc-info each: asked only for a root no config names
    if (found === undefined && (!running || Date.now() - readAt >= (options.refreshMs ?? Infinity))) {
      read(true);
      found = roots!.get(root);
    }
    if (found === undefined) return null;
    const { name, bornMs } = found;
    return { name, contid: registry ? openLxcRow(registry, name)?.contid ?? null : null, bornMs };
  };
}
