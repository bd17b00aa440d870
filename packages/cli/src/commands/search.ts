import type { CommandModule } from 'yargs';
import { createWriteStream, existsSync, mkdtempSync, rmSync, writeSync } from 'node:fs';
import { tmpdir, uptime } from 'node:os';
import { join, resolve } from 'node:path';
import { finished } from 'node:stream/promises';
import { ContidError, Registry, configFromEnv, readRecordKey } from '@contid/core';
import { indexDir } from './index-cmd';
import { EVENT_FILTER_OPTIONS, EventFilterArgs, eventFilterOf } from './event-filter-args';
import {
  SearchIndex,
  defaultLogFiles,
  formatAuditEvent,
  hostHasProcfsContid,
  orderLogFiles,
  parseTimeWords,
  searchLogs,
  type ContainerLookup,
  type EventFilter,
  type SearchFormat,
} from '@contid/audit';

interface SearchArgs extends EventFilterArgs {
  json: boolean;
  input?: string[];
  /** Positional inputs (log files or directories). */
  files?: string[];
  start?: string[];
  end?: string[];
  interpret: boolean;
  strict: boolean;
  'show-rejected': boolean;
  index: boolean;
  'index-dir'?: string;
}

/** Buffered synchronous stdout: one write per ~1 MB, retried while a pipe is full. */
class Out {
  private parts: string[] = [];
  private size = 0;
  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size > 1 << 20) this.flush();
  }
  /** Raw ranges are copied into one reused buffer: no garbage per range. */
  private readonly bytes = Buffer.allocUnsafe(1 << 20);
  private byteSize = 0;
  writeBytes(buf: Buffer): void {
    if (this.size > 0) this.flush();
    if (this.byteSize + buf.length > this.bytes.length) this.flushBytes();
    if (buf.length > this.bytes.length) return this.writeAll(buf);
    buf.copy(this.bytes, this.byteSize);
    this.byteSize += buf.length;
  }
  private flushBytes(): void {
    if (this.byteSize === 0) return;
    const n = this.byteSize;
    this.byteSize = 0;
    this.writeAll(this.bytes.subarray(0, n));
  }
  flush(): void {
    this.flushBytes();
    if (this.size === 0) return;
    const buf = Buffer.from(this.parts.join(''), 'latin1');
    this.parts = [];
    this.size = 0;
    this.writeAll(buf);
  }
  private writeAll(buf: Buffer): void {
    for (let off = 0; off < buf.length; ) {
      try {
        off += writeSync(1, buf, off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') continue;
        if (code === 'EPIPE') process.exit(0);
        throw err;
      }
    }
  }
}

function timeArg(name: string, words: string[] | undefined): number | undefined {
  if (!words || words.length === 0) return undefined;
  const bootMs = Date.now() - uptime() * 1000;
  const t = parseTimeWords(words.map(String), new Date(), bootMs);
  if (t === null) throw new ContidError(`--${name}: not a time: "${words.join(' ')}" (try recent, today, this-week, MM/DD/YYYY HH:MM:SS, YYYY-MM-DD, @EPOCH)`, 2);
  return t;
}

function openRegistry(stateDir: string): (ContainerLookup & { close(): void }) | undefined {
  if (!existsSync(resolve(stateDir, 'registry.db'))) return undefined;
  try {
    return Registry.open(stateDir, { readonly: true });
  } catch {
    return undefined; // enrichment only: the log's own records attribute
  }
}

/** stdin cannot be read twice: spool it to a private temp file for the two passes. */
async function spoolStdin(): Promise<{ file: string; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'contid-search-'));
  const file = join(dir, 'stdin.log');
  const out = createWriteStream(file, { mode: 0o600 });
  process.stdin.pipe(out);
  await finished(out);
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** File-system errors on the logs are the user's to fix: one line, not a stack. */
function readable<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'EPERM') throw new ContidError(`cannot read ${e.path ?? 'the audit log'}: permission denied (audit logs are root-only)`, 1);
    if (e.code === 'EISDIR' || e.code === 'EIO') throw new ContidError(`cannot read ${e.path ?? 'the audit log'}: ${e.code}`, 1);
    throw err;
  }
}

function progressBar(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let shown = -1;
  return (done, total) => {
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    if (pct === shown) return;
    shown = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}%`);
  };
}

/**
 * `contid search`: audit events attributed to containers from the log's own bindings, with
 * ausearch-like filters; raw (default), interpreted, JSON or ECS output.
 */
export const searchCommand: CommandModule<{ json: boolean }, SearchArgs> = {
  command: 'search [files..]',
  describe: 'search audit logs for the events of containers (ausearch-like filters; raw, interpreted, JSON or ECS output)',
  builder: (y) =>
    y
      .positional('files', { type: 'string', array: true, describe: 'log file(s) or directory; - for stdin' })
      .options(EVENT_FILTER_OPTIONS)
      .option('input', { alias: 'i', type: 'string', array: true, describe: 'log file(s) or directory; - for stdin (default: /var/log/audit/audit.log*)' })
      .option('start', { alias: 'ts', type: 'string', array: true, describe: 'from: recent, today, yesterday, this-week, week-ago, this-month, this-year, boot, MM/DD/YYYY [HH:MM:SS], ISO-8601, @EPOCH' })
      .option('end', { alias: 'te', type: 'string', array: true, describe: 'until (same words as --start)' })
      .option('interpret', { type: 'boolean', default: false, describe: 'same as --format interpret' })
      .option('strict', { type: 'boolean', default: false, describe: 'fail when a line is not an audit record' })
      .option('show-rejected', { type: 'boolean', default: false, describe: 'list binding records that failed the trust rule (forgery candidates) instead of events' })
      .option('index', { type: 'boolean', default: true, describe: 'use the index of contid index when it matches the files (--no-index: scan)' })
      .option('index-dir', { type: 'string', describe: 'index directory (default $CONTID_INDEX_DIR or /var/cache/contid)' })
      .example('$0 search --container web --start today', "what web did today, as raw records")
      .example('$0 search -c web --format ecs -i /var/log/audit', 'for a SIEM') as never,
  handler: async (argv) => {
    const formats = [argv.format, argv.interpret ? 'interpret' : undefined, argv.json ? 'json' : undefined].filter((f) => f !== undefined);
    if (new Set(formats).size > 1) throw new ContidError('choose one output format (--format, --interpret, --json)', 2);
    const format = (formats[0] ?? 'raw') as SearchFormat;
    const filter: EventFilter = { ...eventFilterOf(argv), startMs: timeArg('start', argv.start), endMs: timeArg('end', argv.end) };
    let cleanup = (): void => undefined;
    let files: string[];
    const inputs = [...(argv.input ?? []), ...(argv.files ?? [])].map(String).filter((f) => f !== '');
    // yargs-parser drops a bare `-`, so stdin is recognised on the command line itself.
    if (process.argv.slice(2).includes('-')) inputs.push('-');
    if (inputs.includes('-')) {
      if (inputs.length > 1) throw new ContidError('- (stdin) cannot be combined with other inputs', 2);
      const spooled = await spoolStdin();
      files = [spooled.file];
      cleanup = spooled.cleanup;
    } else if (inputs.length > 0) {
      for (const f of inputs) if (!existsSync(f)) throw new ContidError(`no such log file or directory: ${f}`, 2);
      files = orderLogFiles(inputs);
    } else {
      files = defaultLogFiles();
      if (files.length === 0) throw new ContidError('no audit log found in /var/log/audit (use -i FILE)', 2);
    }
    const stateDir = configFromEnv().stateDir;
    const registry = openRegistry(stateDir);
    const out = new Out();
    const bar = progressBar();
    const index = argv.index && !argv['show-rejected'] ? SearchIndex.openExisting(indexDir(argv['index-dir'])) : null;
    try {
      const stats = readable(() => searchLogs({
        files,
        filter,
        timeoutMs: argv['event-timeout'],
        fullScan: argv.strict,
        attribution: { trustedExes: argv['trusted-exe'], key: readRecordKey(stateDir), registry, procfsContid: hostHasProcfsContid() },
        onEvent: argv['show-rejected'] ? () => undefined : (event, chain) => out.write(formatAuditEvent(format, event, chain)),
        onProgress: bar,
        index,
        rawOut: format === 'raw' && !argv['show-rejected'] ? (buf) => out.writeBytes(buf) : undefined,
      }));
      if (bar) process.stderr.write('\r\x1b[K');
      if (argv['show-rejected']) {
        for (const r of stats.attributor.rejected) out.write(`rejected(${r.reason}) ${r.record.raw}\n`);
      }
      out.flush();
      if (stats.skipped > 0) {
        const msg = `skipped ${stats.skipped} of ${stats.lines} lines that are not audit records`;
        if (argv.strict) throw new ContidError(msg, 1);
        process.stderr.write(`contid: ${msg}\n`);
      }
      if (stats.rejected > 0 && !argv['show-rejected']) process.stderr.write(`contid: ignored ${stats.rejected} untrusted binding records (--show-rejected lists them)\n`);
    } finally {
      registry?.close();
      index?.close();
      cleanup();
    }
  },
};
