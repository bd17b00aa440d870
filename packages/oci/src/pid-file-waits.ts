import { FSWatcher, existsSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Announces that a runtime wrote a pid file some spool entries wait for, by an inotify watch on
 * the file's directory (the bundle), so a drain need not look again every few milliseconds while
 * runc creates a container: under load that took several seconds of passes, each listing the
 * spool and re-reading every waiting entry. runc writes its pid file under a temporary name and
 * renames it into place, crun writes it in place: either way an event names the file. A
 * runtime that exits without writing it (a refused create) announces nothing; whoever drains
 * still looks again after a while (and on the runtime's delete entry).
 */
export class PidFileWaits {
  private readonly dirs = new Map<string, { watcher: FSWatcher; names: Set<string> }>();

  /** `written` is called (at once, not queued) for every event that names a watched file. */
  constructor(private readonly written: () => void) {}

  /**
   * Watches exactly these pid files (what a pass left waiting): directories no longer needed are
   * let go. A file that appeared before its watch was set is announced at once. True when every
   * file is watched (a directory that cannot be watched — gone, or no inotify — is not).
   */
  watch(files: Iterable<string>): boolean {
    const wanted = new Map<string, Set<string>>();
    for (const f of files) {
      const dir = dirname(f);
      const names = wanted.get(dir) ?? new Set<string>();
      names.add(basename(f));
      wanted.set(dir, names);
    }
    for (const [dir, w] of this.dirs) {
      if (!wanted.has(dir)) {
        w.watcher.close();
        this.dirs.delete(dir);
      }
    }
    let all = true;
    let announce = false;
    for (const [dir, names] of wanted) {
      let w = this.dirs.get(dir);
      if (!w) {
        try {
          const watcher = watch(dir, { persistent: false }, (_event, file) => {
            if (file !== null && this.dirs.get(dir)?.names.has(file)) this.written();
          });
          w = { watcher, names: new Set() };
          // The bundle removed (the container deleted): nothing more to announce there.
          watcher.on('error', () => this.drop(dir, watcher));
          this.dirs.set(dir, w);
        } catch {
          all = false;
          continue;
        }
      }
      for (const name of names) {
        // Written between the pass that found it missing and this watch: no event will name it.
        if (!w.names.has(name) && existsSync(`${dir}/${name}`)) announce = true;
      }
      w.names = names;
    }
    if (announce) this.written();
    return all;
  }

  close(): void {
    for (const w of this.dirs.values()) w.watcher.close();
    this.dirs.clear();
  }

  private drop(dir: string, watcher: FSWatcher): void {
    watcher.close();
    if (this.dirs.get(dir)?.watcher === watcher) this.dirs.delete(dir);
    this.written();
  }
}
