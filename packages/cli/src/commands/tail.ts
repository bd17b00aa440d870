import type { CommandModule } from 'yargs';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { uptime } from 'node:os';
import { setFlagsFromString } from 'node:v8';
// Modules by path, not the packages' indexes: the auditd plugin runs this command for as long
// as auditd runs, and search, interpretation and LXC's adapter are no part of it.
import { ContidError } from '@contid/core/dist/errors';
import { Registry } from '@contid/core/dist/registry';
import { configFromEnv } from '@contid/core/dist/config';
import { escapeText } from '@contid/core/dist/printable';
import { loadOrCreateSigner } from '@contid/core/dist/node-keys';
import { lxcRootNamer } from '@contid/lxc/dist/root-namer';
import { rejectionReport, trustOptions } from './trust-args';
import { liveBootReporter } from './boot-report';
import { FileFollower } from '@contid/audit/dist/live/file-follower';
import { LiveEntryWatch } from '@contid/audit/dist/entries-live';
import { LivePipeline, TAIL_FORMATS, type SessionRegistry, type TailFormat } from '@contid/audit/dist/live/pipeline';
import { LiveTail } from '@contid/audit/dist/live/live-tail';
import { MulticastSource } from '@contid/audit/dist/live/multicast-source';
import { RotatingFileSink, SocketSink, StreamSink, type OutputSink } from '@contid/audit/dist/live/output-sink';
import { StreamSource } from '@contid/audit/dist/live/stream-source';
import type { LineSource } from '@contid/audit/dist/live/source';
import { PLUGIN_LOG_PATH, PLUGIN_NODE_FLAGS, installAuditdPlugin, reloadAuditdPlugins, uninstallAuditdPlugin } from '@contid/audit/dist/live/auditd-plugin';
import type { Installer } from '@contid/oci';
import { EVENT_FILTER_OPTIONS, EventFilterArgs, eventFilterOf, printNormalizeError } from './event-filter-args';

type SourceKind = 'auto' | 'multicast' | 'plugin' | 'file';

export interface TailArgs extends Omit<EventFilterArgs, 'format'> {
  format?: TailFormat;
  'raw-records': boolean;
  json: boolean;
  source: SourceKind;
  file: string;
  'from-start': boolean;
  output?: string;
  'rotate-size'?: string;
  'rotate-keep': number;
  socket?: string;
  queue: number;
  'report-interval': number;
}

const DEFAULT_LOG = '/var/log/audit/audit.log';

/** "100M" → bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)B?$/i.exec(text.trim());
  if (!m) throw new ContidError(`--rotate-size must be a size like 500K, 100M or 1G, got "${text}"`, 2);
  return Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
}

function openRegistry(stateDir: string): SessionRegistry | undefined {
  if (!existsSync(resolve(stateDir, 'registry.db'))) return undefined;
  try {
    return Registry.open(stateDir, { readonly: true });
  } catch {
    return undefined; // enrichment only: the log's own records still attribute
  }
}

async function startSource(kind: SourceKind, argv: TailArgs, tail: (s: LineSource) => LiveTail): Promise<LiveTail> {
  const make = (k: Exclude<SourceKind, 'auto'>): LineSource =>
    k === 'multicast'
      ? new MulticastSource()
      : k === 'plugin'
        ? new StreamSource(process.stdin)
        : new FileFollower(argv.file, { fromStart: argv['from-start'] });
  if (kind !== 'auto') {
    const t = tail(make(kind));
    await t.start();
    return t;
  }
  // auto: the kernel stream when we may read it, else the log file.
  try {
    const t = tail(make('multicast'));
    await t.start();
    return t;
  } catch (err) {
    if (!(err instanceof ContidError)) throw err;
    const t = tail(make('file'));
    await t.start();
    return t;
  }
}

async function openSink(argv: TailArgs): Promise<OutputSink> {
  if (argv.output && argv.socket) throw new ContidError('choose one of --output and --socket', 2);
  if (argv.socket) return SocketSink.listen(argv.socket);
  if (argv.output) return new RotatingFileSink(argv.output, argv['rotate-size'] ? parseSize(argv['rotate-size']) : 0, argv['rotate-keep']);
  if (argv['rotate-size']) throw new ContidError('--rotate-size needs --output FILE', 2);
  return new StreamSink(process.stdout);
}

/** Where `contid tail` reads (yargs option table; the lean entry parses the same table). */
export const TAIL_SOURCE_OPTIONS = {
  source: { choices: ['auto', 'multicast', 'plugin', 'file'] as const, default: 'auto' as SourceKind, describe: 'multicast: kernel audit group (CAP_AUDIT_READ); plugin: auditd records on stdin; file: follow --file across rotation; auto: multicast, else file' },
  file: { type: 'string', default: DEFAULT_LOG, describe: 'log to follow with --source file' },
  'from-start': { type: 'boolean', default: false, describe: 'with --source file: read the file from its beginning' },
} as const;

/** How and where `contid tail` writes (after the filter options: its --format replaces search's). */
export const TAIL_OUTPUT_OPTIONS = {
  format: { choices: TAIL_FORMATS, describe: 'raw (default), interpret, text (ausearch --format text), csv (ausearch --format csv with CONTAINER,CONTID,ORCHESTRATOR columns), json, ecs (Elastic Common Schema), compact (one typed object per event, records by type)' },
  'raw-records': { type: 'boolean', default: false, describe: 'with --format compact: add the records as auditd wrote them' },
  output: { alias: 'o', type: 'string', describe: 'append to FILE instead of stdout' },
  'rotate-size': { type: 'string', describe: 'with --output: rotate FILE at this size (e.g. 100M)' },
  'rotate-keep': { type: 'number', default: 5, describe: 'rotated files to keep' },
  socket: { type: 'string', describe: 'serve the stream on this unix socket (every client gets it)' },
  queue: { type: 'number', default: 100_000, describe: 'records buffered between reader and writer; beyond it records are dropped and counted' },
  'report-interval': { type: 'number', default: 5000, describe: 'ms between "dropped N records" reports' },
} as const;

/**
 * `contid tail`: audit events as they happen, each with its container, through the same
 * filters and formats as `contid search`. Prints "contid: tail ready (source=…)" on stderr
 * once it receives, dropped-record reports while running, and a summary at the end.
 */
export const tailCommand: CommandModule<{ json: boolean }, TailArgs> = {
  command: 'tail',
  describe: 'follow audit events live, attributed to containers (kernel multicast, auditd plugin, or audit.log)',
  builder: (y) =>
    y
      .options(TAIL_SOURCE_OPTIONS)
      .options(EVENT_FILTER_OPTIONS)
      .options(TAIL_OUTPUT_OPTIONS)
      .example('$0 tail --container web', "web's events as they happen")
      .example('$0 tail --format ecs --output /var/log/contid/live.jsonl --rotate-size 100M', 'for a SIEM shipper') as never,
  handler: (argv) => runTail(argv),
};

/** The tail's body, shared by `contid tail` and the lean entry the auditd plugin runs (tail-main.ts). */
export async function runTail(argv: TailArgs): Promise<void> {
  if (!Number.isInteger(argv.queue) || argv.queue < 1) throw new ContidError('--queue must be a positive integer', 2);
  // A tail runs for as long as auditd does, and what it keeps is bounded (LruMap tables,
  // the queue, held events) — but by default V8 lets the old generation grow to several
  // times what is alive before collecting it, and the young generation grow to 16 MB per
  // semi-space (docs/tail.md, "Memory"). V8 reads these flags at every collection, so
  // setting them now applies to the whole run: the young generation stays at its initial
  // 1 MB semi-space (what the auditd plugin's --max-semi-space-size=1 gives), whoever
  // started the process. Nearly everything tail allocates per record dies young.
  setFlagsFromString('--optimize-for-size');
  setFlagsFromString('--semi-space-growth-factor=1');
  const config = configFromEnv();
  const stateDir = config.stateDir;
  // Root on a node reads its own node's records: its key must exist before the trust is
  // loaded, or every binding written after tail started (the first tagging creates the key)
  // is rejected as signed by an unknown key.
  if (process.geteuid?.() === 0) loadOrCreateSigner(stateDir, config.nodeName, config.trustDir);
  const registry = openRegistry(stateDir);
  const format = argv.format ?? (argv.interpret ? 'interpret' : argv.json ? 'json' : 'raw');
  const filter = eventFilterOf(argv as EventFilterArgs);
  // entries into LXC containers that bypass contid, as search --untagged words them
  let entries: LiveEntryWatch | null = null;
  const trusted = trustOptions(argv, (line) => void process.stderr.write(`contid: ${line}\n`));
  const pipeline = new LivePipeline({
    format,
    onEmit: (event, c) => entries?.onEmit(event, c) ?? '',
    rawRecords: argv['raw-records'],
    // csv: search's columns and the container's (a live stream is read for its attribution)
    formatOptions: { csv: { container: true }, onNormalizeError: printNormalizeError },
    eventTimeoutMs: argv['event-timeout'],
    ...trusted,
    registry,
    // The registry answers for this node's sessions of this boot only (docs/tail.md): the node
    // is the one unprefixed records are taken for unless --log-node names another; the boot
    // began uptime ago (a second earlier: uptime and the records' clock are read apart).
    localNode: argv['log-node'] === undefined ? trusted.unprefixedNode : config.nodeName,
    bootStartMs: Date.now() - uptime() * 1000 - 1000,
    onBootVerdict: liveBootReporter((line) => void process.stderr.write(`contid: ${line}\n`)),
    filter,
  });
  entries = new LiveEntryWatch(pipeline.attributor, {
    rootNamer: lxcRootNamer(registry instanceof Registry ? registry : null, { refreshMs: 2000 }),
    localNode: config.nodeName,
    json: format === 'json' || format === 'ecs' || format === 'compact',
    report: (line) => void process.stderr.write(`contid: ${escapeText(line)}\n`),
    container: filter.container,
  });
  const sink = await openSink(argv);
  const report = (m: string): void => void process.stderr.write(`contid: ${m}\n`);
  const tail = await startSource(argv.source, argv, (source) =>
    new LiveTail({ source, pipeline, sink, report, queueCapacity: argv.queue, reportIntervalMs: argv['report-interval'] }),
  );
  const sourceName = tail.summary().source;
  report(`tail ready (source=${sourceName})`);
  // SIGHUP: the output file is opened again by name (logrotate's postrotate); auditd passes it
  // on to its plugins when it reconfigures, which then only reopens the same file. Keep running.
  process.on('SIGHUP', () => sink.reopen?.());
  const stopped = new Promise<'signal'>((done) => {
    process.once('SIGTERM', () => done('signal'));
    process.once('SIGINT', () => done('signal'));
  });
  // `contid tail | head`: the reader went away; stop like on a signal.
  const readerGone = new Promise<'signal'>((done) => process.stdout.on('error', () => done('signal')));
  const ended = await Promise.race([stopped, readerGone, tail.finished().then(() => 'ended' as const)]);
  if (ended === 'signal') await tail.stop();
  for (const line of rejectionReport(pipeline.attributor, argv['trust-dir'])) report(line);
  const failure = tail.failure();
  if (failure) throw new ContidError(failure);
  process.exit(0);
}

/** `contid install auditd-plugin [output=FILE | socket=PATH] [format=json] [rotate-size=100M] [container=REF] [log=FILE] [restart=yes|no]` */
export const auditdPluginInstaller: Installer = {
  describe: 'auditd plugin (plugins.d/contid.conf): auditd feeds contid tail, which writes attributed events to a file or socket',
  install(words) {
    const opts = new Map<string, string>([['format', 'json'], ['output', '/var/log/contid/live.jsonl'], ['rotate-size', '100M'], ['log', PLUGIN_LOG_PATH], ['restart', 'yes']]);
    for (const w of words) {
      const [k, ...v] = w.split('=');
      if (!['output', 'socket', 'format', 'rotate-size', 'container', 'log', 'restart'].includes(k) || v.length === 0) {
        throw new ContidError(`auditd-plugin takes output=FILE, socket=PATH, format=${TAIL_FORMATS.join('|')}, rotate-size=SIZE, container=REF, log=FILE, restart=yes|no; got "${w}"`, 2);
      }
      opts.set(k, v.join('='));
    }
    if (!['yes', 'no'].includes(opts.get('restart')!)) throw new ContidError('restart must be yes or no', 2);
    if (!TAIL_FORMATS.includes(opts.get('format') as TailFormat)) throw new ContidError(`format must be one of ${TAIL_FORMATS.join(', ')}`, 2);
    parseSize(opts.get('rotate-size')!);
    const tailArgs = ['--format', opts.get('format')!];
    if (words.some((w) => w.startsWith('socket='))) tailArgs.push('--socket', opts.get('socket')!);
    else tailArgs.push('--output', opts.get('output')!, '--rotate-size', opts.get('rotate-size')!);
    if (opts.has('container')) tailArgs.push('--container', opts.get('container')!);
    const config = configFromEnv();
    tailArgs.push('--state-dir', config.stateDir);
    // The plugin loads the keys it verifies with when it starts: this node's own key must
    // exist by then, or every binding contid writes later is rejected as signed by an unknown key.
    loadOrCreateSigner(config.stateDir, config.nodeName, config.trustDir);
    // A plugin runs for auditd's lifetime: its entry is `contid tail` alone, without yargs and
    // the command's wiring (docs/tail.md, "Memory").
    const node = [process.execPath, ...PLUGIN_NODE_FLAGS, resolve(__dirname, '..', 'tail-main.js')];
    const files = installAuditdPlugin({ contid: node, tailArgs, logPath: opts.get('log') });
    // auditd 3.0.9 may start the plugin only after a restart: restart=no says what to run instead.
    return `installed ${files.join(', ')}; ${reloadAuditdPlugins(true, { restart: opts.get('restart') === 'yes' })}; its reports go to ${opts.get('log')}`;
  },
  uninstall() {
    const removed = uninstallAuditdPlugin();
    return removed.length === 0 ? 'the auditd plugin is not installed' : `removed ${removed.join(', ')}; ${reloadAuditdPlugins(false, { restart: true })}`;
  },
};
