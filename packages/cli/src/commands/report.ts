import type { CommandModule } from 'yargs';
import { createHash } from 'node:crypto';
import { dirname, join, basename, extname } from 'node:path';
import { ContidError, configFromEnv, formatContainerId, writeFileWhole } from '@contid/core';
import { SearchIndex, hostHasProcfsContid } from '@contid/audit';
import { GROUP_BYS, reportHtml, reportJson, reportText, runReport, type GroupBy, type GroupReport } from '@contid/report';
import { indexDir } from './index-cmd';
import { trustOptions } from './trust-args';
import { windowLossLines } from './window-losses';
import { EVENT_FILTER_OPTIONS, EventFilterArgs, eventFilterOf } from './event-filter-args';
import { LOG_INPUT_OPTIONS, LogInputArgs, openRegistry, readable, resolveLogFiles, timeArg } from './log-inputs';
import { QUIET_OPTION, progressOnStderr } from '../progress';
import { printJson } from '../output';

interface ReportArgs extends EventFilterArgs, LogInputArgs {
  json: boolean;
  quiet: boolean;
  interpret: boolean;
  summary: boolean;
  by: GroupBy;
  html?: string;
  index: boolean;
  'index-dir'?: string;
}

/**
 * Where each group's page goes: FILE itself for one group, FILE-<label>-<id>.html beside it for
 * several. A label that had to be made file-safe or shortened gets a short hash of its exact
 * text, so `web:1` and `web;1` (or two long labels) never share a page; should two names still
 * meet, nothing is written rather than one page silently replacing another.
 */
export function pagePaths(file: string, groups: GroupReport[]): string[] {
  if (groups.length === 1) return [file];
  const ext = extname(file) || '.html';
  const stem = join(dirname(file), basename(file, extname(file)));
  const paths = groups.map((g) => {
    const c = g.identity.chain[0];
    const exact = `${g.identity.label}${c ? `-${formatContainerId(c.contid)}` : ''}`;
    const safe = exact.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
    const tag = safe === exact ? safe : `${safe}-${createHash('sha256').update(exact).digest('hex').slice(0, 12)}`;
    return `${stem}-${tag}${ext}`;
  });
  const seen = new Set<string>();
  for (const p of paths) {
    if (seen.has(p)) throw new ContidError(`two groups would share the page ${p}; nothing written (report them one at a time with -c)`);
    seen.add(p);
  }
  return paths;
}

/** Written whole or not at all, never through a file someone else planted (the page may go to /tmp). */
function writeWhole(path: string, text: string): void {
  writeFileWhole(path, text); // creates missing directories, never through a path someone else controls
}

/**
 * `contid report`: aureport's summaries for each container (or pod, orchestrator, node) over
 * the same inputs, filters and index as `contid search`; text, --json or --html pages.
 */
export const reportCommand: CommandModule<{ json: boolean }, ReportArgs> = {
  command: 'report [files..]',
  describe: "aureport-style summaries per container: executables, files written, network, failed syscalls, anomalies, entries (text, JSON or an HTML timeline)",
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, describe: 'log file(s) or directory; - for stdin' })
      .options(EVENT_FILTER_OPTIONS)
      .options(LOG_INPUT_OPTIONS)
      .options(QUIET_OPTION)
      .option('by', { choices: GROUP_BYS, default: 'container' as GroupBy, describe: 'one report per container, pod, orchestrator or node' })
      .option('summary', { type: 'boolean', default: false, describe: 'only the totals of each group (like aureport --summary)' })
      .option('interpret', { type: 'boolean', default: false, describe: 'user ids as names (aureport -i)' })
      .option('html', { type: 'string', describe: 'write a self-contained HTML page (timeline, tables, raw records) to FILE; one per group' })
      .option('index', { type: 'boolean', default: true, describe: 'use the index of contid index when it matches the files (--no-index: scan)' })
      .option('index-dir', { type: 'string', describe: 'index directory (default $CONTID_INDEX_DIR or /var/cache/contid)' })
      .example('$0 report -c web --start today', 'what web did today, summarised')
      .example('$0 report -c web --html web.html', 'a timeline page to open in a browser') as never,
  handler: async (argv) => {
    if (argv.html !== undefined && argv.html === '') throw new ContidError('--html needs a file name', 2);
    const filter = { ...eventFilterOf(argv), startMs: timeArg('start', argv.start), endMs: timeArg('end', argv.end) };
    const { files, cleanup } = await resolveLogFiles(argv);
    const stateDir = configFromEnv().stateDir;
    const registry = openRegistry(stateDir);
    const index = argv.index ? SearchIndex.openExisting(indexDir(argv['index-dir'])) : null;
    const progress = progressOnStderr({ quiet: argv.quiet });
    try {
      const { groups, stats } = readable(() =>
        runReport({
          files,
          filter,
          by: argv.by,
          keepEvents: argv.html !== undefined,
          timeoutMs: argv['event-timeout'],
          index,
          attribution: { ...trustOptions(argv, (line) => void process.stderr.write(`contid: ${line}\n`)), registry, procfsContid: hostHasProcfsContid() },
          onProgress: (done, total) => progress.bytes(done, total),
          onMatched: () => progress.matched(),
        }),
      );
      progress.end();
      if (argv.html !== undefined) {
        if (groups.length === 0) throw new ContidError('no events matched: no page written', 1);
        const paths = pagePaths(argv.html, groups);
        groups.forEach((g, i) => writeWhole(paths[i], reportHtml(g, { interpret: argv.interpret })));
        for (const p of paths) process.stderr.write(`contid: wrote ${p}\n`);
      }
      if (argv.json) printJson(reportJson(groups));
      else if (argv.html === undefined && groups.length > 0) process.stdout.write(reportText(groups, { interpret: argv.interpret, summaryOnly: argv.summary }));
      if (stats.skipped > 0) process.stderr.write(`contid: skipped ${stats.skipped} of ${stats.lines} lines that are not audit records\n`);
      for (const line of windowLossLines(stats)) process.stderr.write(`contid: ${line}\n`);
      if (stats.rejected > 0) process.stderr.write(`contid: rejected ${stats.rejected} binding record(s) that could not be verified; their sessions are not attributed (contid search --show-rejected lists them and says why)\n`);
      // As search and ausearch: nothing matched (an empty or non-audit input included) is exit 1.
      if (groups.length === 0) {
        process.stderr.write('<no matches>\n');
        process.exitCode = 1;
      }
    } finally {
      registry?.close();
      index?.close();
      cleanup();
    }
  },
};
