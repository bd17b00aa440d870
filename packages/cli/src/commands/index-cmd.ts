import type { CommandModule } from 'yargs';
import { existsSync, statSync } from 'node:fs';
import { ContidError } from '@contid/core';
import { DEFAULT_INDEX_DIR, SearchIndex, defaultLogFiles, orderLogFiles } from '@contid/audit';
import { QUIET_OPTION, progressOnStderr } from '../progress';

interface IndexArgs {
  json: boolean;
  quiet: boolean;
  input?: string[];
  'index-dir'?: string;
}

/** The search index directory: --index-dir, $CONTID_INDEX_DIR, or /var/cache/contid. */
export function indexDir(arg: string | undefined): string {
  return arg ?? process.env.CONTID_INDEX_DIR ?? DEFAULT_INDEX_DIR;
}

/**
 * `contid index`: builds the sidecar index `contid search` uses for repeated container
 * queries. Files already indexed as they are now (same inode, size, mtime) are skipped.
 */
export const indexCommand: CommandModule<{ json: boolean }, IndexArgs> = {
  command: 'index',
  describe: 'index audit logs so repeated contid search queries read only the matching events',
  builder: (y) =>
    y
      .option('input', { alias: 'i', type: 'string', array: true, describe: 'log file(s) or directory (default: /var/log/audit/audit.log*)' })
      .option('index-dir', { type: 'string', describe: `where the index lives (default $CONTID_INDEX_DIR or ${DEFAULT_INDEX_DIR})` })
      .options(QUIET_OPTION) as never,
  handler: (argv) => {
    const inputs = (argv.input ?? []).map(String);
    for (const f of inputs) if (!existsSync(f)) throw new ContidError(`no such log file or directory: ${f}`, 2);
    const files = inputs.length > 0 ? orderLogFiles(inputs) : defaultLogFiles();
    if (files.length === 0) throw new ContidError('no audit log found in /var/log/audit (use -i FILE)', 2);
    const index = SearchIndex.open(indexDir(argv['index-dir']));
    const progress = progressOnStderr({ quiet: argv.quiet });
    const total = files.reduce((n, f) => n + (existsSync(f) ? statSync(f).size : 0), 0);
    let before = 0; // bytes of the files already done
    try {
      const report: { file: string; indexed: boolean; sessions?: number }[] = [];
      for (const file of files) {
        const size = existsSync(file) ? statSync(file).size : 0;
        if (index.lookup(file)) {
          report.push({ file, indexed: false });
          before += size;
          continue;
        }
        const r = index.build(file, (done) => progress.bytes(before + done, total));
        before += size;
        report.push({ file, indexed: true, sessions: r.sessions });
      }
      progress.end();
      if (argv.json) process.stdout.write(JSON.stringify(report) + '\n');
      else for (const r of report) process.stdout.write(`${r.file}: ${r.indexed ? `indexed (${r.sessions} sessions)` : 'up to date'}\n`);
    } finally {
      index.close();
    }
  },
};
