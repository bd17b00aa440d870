import type { CommandModule } from 'yargs';
import { existsSync, statSync } from 'node:fs';
import { ContidError } from '@contid/core/dist/errors';
import { escapeText } from '@contid/core/dist/printable';
import { DEFAULT_INDEX_DIR, IndexWindowError, SearchIndex } from '@contid/audit/dist/search-index';
import { defaultLogFiles, orderLogFiles } from '@contid/audit/dist/reader';
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
      const report: { file: string; indexed: boolean; sessions?: number; notIndexed?: string }[] = [];
      for (const file of files) {
        const size = existsSync(file) ? statSync(file).size : 0;
        if (index.lookup(file)) {
          report.push({ file, indexed: false });
          before += size;
          continue;
        }
        let r: { sessions: number };
        try {
          r = index.build(file, (done) => progress.bytes(before + done, total));
        } catch (err) {
          if (!(err instanceof IndexWindowError)) throw err;
          // never an index with lines missing: without one, search reads the file itself
          process.stderr.write(`contid: ${escapeText(`${file}: not indexed: ${err.message}; contid search reads it without the index`)}\n`);
          report.push({ file, indexed: false, notIndexed: err.message });
          before += size;
          continue;
        }
        before += size;
        report.push({ file, indexed: true, sessions: r.sessions });
      }
      progress.end();
      if (argv.json) process.stdout.write(JSON.stringify(report) + '\n');
      else for (const r of report) process.stdout.write(`${r.file}: ${r.indexed ? `indexed (${r.sessions} sessions)` : r.notIndexed ? 'not indexed' : 'up to date'}\n`);
    } finally {
      index.close();
    }
  },
};
