import type { CommandModule } from 'yargs';
import { ContidError } from '@contid/core/dist/errors';
import { configFromEnv } from '@contid/core/dist/config';
import { escapeText } from '@contid/core/dist/printable';
import { indexDir } from './index-cmd';
import { rejectionReport, trustOptions } from './trust-args';
import { BootReport } from './boot-report';
import { EVENT_FILTER_OPTIONS, EventFilterArgs, eventFilterOf, outputFormatOf, printNormalizeError } from './event-filter-args';
import { LOG_INPUT_OPTIONS, LogInputArgs, openRegistry, readable, resolveLogFiles, timeArg } from './log-inputs';
import { QUIET_OPTION, progressOnStderr } from '../progress';
import { untaggedEntries, untaggedSearchError } from './untagged-search';
import { windowLossLines } from './window-losses';
// Modules by path, not @contid/audit's entry point, which also loads the live pipeline (tail)
// and the interpret worker: a search starts with what it runs (test/start-up-modules.test.ts).
import { EntryWitness, describeUntaggedEntry, untaggedEntryJson } from '@contid/audit/dist/entries';
import { SearchIndex } from '@contid/audit/dist/search-index';
import type { FormatOptions } from '@contid/audit/dist/format';
import { bytesToText, safeRawBytes } from '@contid/audit/dist/safe-text';
import { writeLinesSync } from '@contid/audit/dist/write-all';
import { fileBases, hasContainerCriteria, searchLogs } from '@contid/audit/dist/search';
import { hostHasProcfsContid, type RejectedBinding } from '@contid/audit/dist/attributor';
import type { EventFilter } from '@contid/audit/dist/filter';

interface SearchArgs extends EventFilterArgs, LogInputArgs {
  json: boolean;
  quiet: boolean;
  strict: boolean;
  'just-one': boolean;
  'show-rejected': boolean;
  untagged: boolean;
  index: boolean;
  'index-dir'?: string;
  'extra-keys': boolean;
  'extra-labels': boolean;
  'extra-obj2': boolean;
  'extra-time': boolean;
  'extra-container': boolean;
}

/** ausearch's --extra-* columns of --format csv, and contid's container columns. */
const CSV_OPTIONS = {
  'extra-keys': { type: 'boolean', default: false, describe: 'csv: a KEY column (ausearch --extra-keys)' },
  'extra-labels': { type: 'boolean', default: false, describe: 'csv: SUBJ_LABEL and OBJ_LABEL columns (ausearch --extra-labels)' },
  'extra-obj2': { type: 'boolean', default: false, describe: 'csv: an OBJ2 column (ausearch --extra-obj2)' },
  'extra-time': { type: 'boolean', default: false, describe: 'csv: YEAR … GMT_OFFSET columns (ausearch --extra-time)' },
  'extra-container': { type: 'boolean', default: false, describe: 'csv: CONTAINER, CONTID and ORCHESTRATOR columns' },
} as const;

function formatOptionsOf(argv: SearchArgs, format: string): FormatOptions {
  const csv = { keys: argv['extra-keys'], labels: argv['extra-labels'], obj2: argv['extra-obj2'], time: argv['extra-time'], container: argv['extra-container'] };
  if (format !== 'csv' && Object.values(csv).some(Boolean)) throw new ContidError('--extra options require --format csv (as ausearch)', 2);
  return { csv, onNormalizeError: printNormalizeError };
}

/** Buffered synchronous stdout: one write per ~1 MB, waited for while a pipe is full. */
class Out {
  private parts: string[] = [];
  private size = 0;
  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }
  /**
   * Raw log bytes are copied into one reused buffer and made safe (safeRawBytes) a buffer at a
   * time, not a range at a time: it escapes line by line, so whole lines gathered give the same
   * bytes as each escaped alone, and an index query hands out tens of thousands of ranges.
   */
  private readonly bytes = Buffer.allocUnsafe(1 << 20);
  private byteSize = 0;
  writeRawLines(buf: Buffer): void {
    if (this.size > 0) this.flush();
    // bytes not ending a line (a log's last line without its newline) are escaped alone
    if (buf.length > 0 && buf[buf.length - 1] !== 0x0a) {
      this.flushBytes();
      return this.writeAll(safeRawBytes(buf));
    }
    if (this.byteSize + buf.length > this.bytes.length) this.flushBytes();
    // a large run (the index's spooled way hands out up to 1 MB at once) is written from where
    // it lies: the same bytes, without the copy
    if (buf.length > this.bytes.length || (this.byteSize === 0 && buf.length >= this.bytes.length >> 2)) return this.writeAll(safeRawBytes(buf));
    // TypedArray's set, not Buffer's copy: copy wraps each call in a new view and argument
    // checks, which tens of thousands of short ranges paid for
    this.bytes.set(buf, this.byteSize);
    this.byteSize += buf.length;
  }
  private flushBytes(): void {
    if (this.byteSize === 0) return;
    const n = this.byteSize;
    this.byteSize = 0;
    this.writeAll(safeRawBytes(this.bytes.subarray(0, n)));
  }
  flush(): void {
    this.flushBytes();
    if (this.size === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.size = 0;
    this.writeAll(buf);
  }
  /**
   * writeAllSync: a full non-blocking pipe (stderr made by Node on the same pipe, `2>&1 | less`)
   * is waited for by poll(2), not retried in a loop that burned a core while the reader slept;
   * a file the disk refuses part-way keeps no half line (writeLinesSync).
   */
  private writeAll(buf: Buffer): void {
    try {
      writeLinesSync(1, buf);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') process.exit(0);
      // a write(2) error has no path: failWith would name it 'input', the wrong end
      if (typeof code === 'string') throw new ContidError(`cannot write the output: ${code}`);
      throw err;
    }
  }
}

/** Every option of `search` (the global `--json` is main's): the builder's table and the plain reader's (plain-args.ts). */
export const SEARCH_OPTIONS = {
  ...EVENT_FILTER_OPTIONS,
  ...LOG_INPUT_OPTIONS,
  input: { ...LOG_INPUT_OPTIONS.input, alias: 'if' }, // -i is ausearch's --interpret
  ...CSV_OPTIONS,
  ...QUIET_OPTION,
  strict: { type: 'boolean', default: false, describe: 'fail, naming FILE:LINE and printing nothing, when a line is not an audit record' },
  'just-one': { type: 'boolean', default: false, describe: 'stop after the first matching event (ausearch --just-one)' },
  'show-rejected': { type: 'boolean', default: false, describe: 'list binding records that failed the trust rule (forgery candidates) instead of events' },
  untagged: { type: 'boolean', default: false, describe: 'list entries into LXC containers that bypassed contid (plain lxc-start / lxc-attach), known to contid or not, instead of events' },
  index: { type: 'boolean', default: true, describe: 'use the index of contid index when it matches the files (--no-index: scan)' },
  'index-dir': { type: 'string', describe: 'index directory (default $CONTID_INDEX_DIR or /var/cache/contid)' },
} as const;

type Formatters = typeof import('@contid/audit/dist/format');
let formatters: Formatters | undefined;
/**
 * The event formatters, required on first use: a raw search prints the log's bytes and formats
 * an event only where a range must be decoded, so most raw searches never load them (nor the
 * interpreter, normalizer, csv and JSON modules format.ts imports).
 */
const formatting = (): Formatters => (formatters ??= require('@contid/audit/dist/format') as Formatters);

/** A file name for a one-line message: control characters escaped. */
const displayName = (file: string): string => file.replace(/[\x00-\x1f\x7f]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);

/**
 * `contid search`: audit events attributed to containers from the log's own bindings, with
 * ausearch-like filters; raw (default), interpreted, text, csv, JSON or ECS output.
 */
export const searchCommand: CommandModule<{ json: boolean }, SearchArgs> = {
  command: 'search [files..]',
  describe: 'search audit logs for the events of containers (ausearch-like filters; raw, interpreted, text, csv, JSON or ECS output)',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, describe: 'log file(s) or directory; - for stdin' })
      .options(SEARCH_OPTIONS)
      .example('$0 search --container web --start today', "what web did today, as raw records")
      .example('$0 search -c web --format ecs -if /var/log/audit', 'for a SIEM')
      .example('$0 search -m SYSCALL -sv no -ts today -i', 'ausearch spellings: failed syscalls since midnight, interpreted') as never,
  handler: async (argv) => {
    const format = outputFormatOf(argv);
    if (argv.untagged && (argv['show-rejected'] || argv['just-one'])) throw new ContidError('--untagged lists entries: it does not go with --show-rejected or --just-one', 2);
    const formatOptions = formatOptionsOf(argv, format);
    const filter: EventFilter = { ...eventFilterOf(argv), startMs: timeArg('start', argv.start), endMs: timeArg('end', argv.end) };
    const { files, cleanup, temporary } = await resolveLogFiles(argv);
    // this process's own copy of the input (stdin spooled, gzip inflated) has no name left in
    // the temporary directory (private-copy.ts): a reader that goes away (EPIPE: process.exit(0)
    // past the finally below), a signal or a kill frees it with the process
    // a big input interpreted on two threads: this process started again with a larger young
    // generation for the reading thread (readerRestartFlags), before anything is read or printed;
    // not when the input is this process's own copy (stdin, gzip), gone with it
    if (format === 'interpret' && !temporary && !argv['show-rejected'] && !argv.untagged && !argv['just-one'] && !hasContainerCriteria(filter)) {
      const flags = (require('@contid/audit/dist/interpret-pipe') as typeof import('@contid/audit/dist/interpret-pipe')).readerRestartFlags(fileBases(files).reduce((sum, b) => sum + b.size, 0));
      if (flags) (require('@contid/core/dist/process-replace') as typeof import('@contid/core/dist/process-replace')).replaceProcess([process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)]);
    }
    const stateDir = configFromEnv().stateDir;
    const say = (line: string): void => void process.stderr.write(`contid: ${line}\n`);
    const trust = trustOptions(argv, say);
    const registry = openRegistry(stateDir);
    const out = new Out();
    let headerDone = false;
    const progress = progressOnStderr({ quiet: argv.quiet });
    const dir = indexDir(argv['index-dir']);
    // One line when the index is not used: a scan is slower, never wrong.
    const ignoreIndex = (reason: string): void => void process.stderr.write(`contid: ${escapeText(`ignoring the search index in ${dir}: ${reason}; searching the logs without it`)}\n`);
    const index = argv.index && !argv['show-rejected'] ? SearchIndex.openExisting(dir, ignoreIndex) : null;
    const entries = new EntryWitness();
    const boots = new BootReport();
    // every interpreted event goes to a second thread, which interprets and prints it (stdout is its alone)
    const pipe = format === 'interpret' && !argv['show-rejected'] && !argv.untagged ? new (require('@contid/audit/dist/interpret-pipe') as typeof import('@contid/audit/dist/interpret-pipe')).InterpretPipe(() => process.exit(0)) : null;
    try {
      // a big input read whole: the interpreting thread starts during the first pass (see
      // InterpretPipe.prestart); not for --just-one or a container selection (the index or the
      // session scan answer those fast, and a small answer is interpreted on this thread)
      if (pipe && !argv['just-one'] && !hasContainerCriteria(filter)) pipe.prestart(fileBases(files).reduce((sum, b) => sum + b.size, 0));
      if (argv.strict) {
        // checked before anything is printed: --strict output is all or nothing
        const { findMalformedLine } = require('@contid/audit/dist/strict-check') as typeof import('@contid/audit/dist/strict-check');
        const bad = readable(() => findMalformedLine(files));
        if (bad) throw new ContidError(`${displayName(bad.file)}:${bad.line}: ${bad.reason} (--strict)`, 1);
      }
      const stats = readable(() => searchLogs({
        files,
        filter,
        timeoutMs: argv['event-timeout'],
        fullScan: argv.strict,
        limit: argv['just-one'] ? 1 : undefined,
        attribution: {
          ...trust,
          registry,
          procfsContid: hostHasProcfsContid(),
          onTrustedBinding: entries.onTrustedBinding,
          onBootVerdict: boots.onBootVerdict,
          // --show-rejected: each one out as it is found, none kept (any number, flat memory)
          ...(argv['show-rejected'] ? { keepRejected: 0, onRejected: (r: RejectedBinding) => out.write(`rejected(${r.reason}) ${bytesToText(r.record.raw, { escapeControls: true })}\n`) } : {}),
        },
        onEntryRecord: entries.onEntryRecord,
        firstPassOnly: argv.untagged,
        onEvent: argv['show-rejected']
          ? () => undefined
          : pipe
            ? (event, chain) => {
                progress.matched();
                pipe.event(event, formatting().interpretSeparator(chain));
              }
          : (event, chain) => {
              // ausearch prints the csv header before the first row, so none when nothing matches
              if (format === 'csv' && !headerDone) out.write(formatting().csvHeaderRow(formatOptions));
              headerDone = true;
              progress.matched();
              out.write(formatting().formatAuditEvent(format, event, chain, formatOptions));
            },
        onProgress: (done, total) => progress.bytes(done, total),
        index,
        onIndexProblem: ignoreIndex,
        verifyAll: argv['show-rejected'],
        rawOut: format === 'raw' && !argv['show-rejected'] && !argv['just-one'] ? (buf) => out.writeRawLines(buf) : undefined,
      }));
      pipe?.finish();
      progress.end();
      out.flush();
      if (fileBases(files).every((b) => b.size === 0)) throw new ContidError('no audit records: the input is empty', 1);
      if (stats.lines > 0 && stats.skipped === stats.lines) throw new ContidError(`not an audit log: none of its ${stats.lines} lines is an audit record`, 1);
      if (stats.skipped > 0) process.stderr.write(`contid: skipped ${stats.skipped} of ${stats.lines} lines that are not audit records\n`);
      // records are never dropped silently: what a bounded window could not read is counted here
      for (const line of windowLossLines(stats)) say(line);
      if (!argv['show-rejected']) for (const line of rejectionReport(stats.attributor, argv['trust-dir'])) say(line);
      // a boot found from serials alone changes what is attributed: the reader is told where
      const bases = fileBases(files);
      for (const line of boots.lines((offset) => {
        const b = [...bases].reverse().find((f) => f.base <= offset);
        return b ? `${displayName(b.file)} byte ${offset - b.base}` : `byte ${offset}`;
      })) say(line);
      if (argv.untagged) {
        // the entries are the answer: on stdout, as text lines or JSON objects
        const found = untaggedEntries(entries, stats.attributor, filter, files, true);
        const json = format === 'json' || format === 'ecs';
        for (const e of found) out.write(json ? untaggedEntryJson(e) : `${escapeText(describeUntaggedEntry(e))}\n`);
        out.flush();
        if (found.length === 0) {
          process.stderr.write('<no matches>\n');
          process.exitCode = 1;
        }
        return;
      }
      if (!argv['show-rejected']) for (const e of untaggedEntries(entries, stats.attributor, filter, files)) say(escapeText(describeUntaggedEntry(e)));
      const untagged = argv['show-rejected'] ? null : untaggedSearchError(stats.attributor, filter, hostHasProcfsContid());
      if (untagged) throw untagged;
      if (stats.matched === 0 && !argv['show-rejected']) {
        // ausearch: exit 1, and `<no matches>` on stderr unless raw output was asked for
        if (!argv.raw && argv.format !== 'raw') process.stderr.write('<no matches>\n');
        process.exitCode = 1;
      }
    } finally {
      pipe?.close();
      registry?.close();
      index?.close();
      cleanup();
    }
  },
};
