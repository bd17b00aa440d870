import { fstatSync } from 'node:fs';
/**
 * One progress line for long commands (search, index, report) on a terminal's stderr:
 * a bar, bytes read of the total, events matched, rate and time left, redrawn in place.
 * Silent when stderr is not a terminal or with --quiet, so pipes and logs never see it.
 */

export interface ProgressState {
  /** Bytes read so far and in all (both passes of a search count). */
  done: number;
  total: number;
  /** Events matched so far; undefined where a command matches nothing (index). */
  matched?: number;
  /** Milliseconds since the work began. */
  elapsedMs: number;
}

const BAR_WIDTH = 30;
/** Redraw at most this often: a terminal write per chunk would cost more than the work. */
const REDRAW_MS = 100;

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(bytes >= 10e6 ? 0 : 1);
}

function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** The line itself (no \r): pure, so its wording is unit-tested. */
export function formatProgress(p: ProgressState): string {
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
  const pct = Math.floor(frac * 100);
  const filled = Math.round(frac * BAR_WIDTH);
  const parts = [`[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${pct}%`, `${mb(p.done)}/${mb(p.total)} MB`];
  if (p.matched !== undefined) parts.push(`${p.matched.toLocaleString('en-US')} matched`);
  const seconds = p.elapsedMs / 1000;
  // a rate and an estimate only once there is something to go on
  if (seconds >= 0.5 && p.done > 0) {
    const rate = p.done / seconds;
    parts.push(`${mb(rate)} MB/s`);
    if (frac < 1) parts.push(`${duration(((p.total - p.done) / rate) * 1000)} left`);
  }
  return parts.join('  ');
}

export interface Progress {
  /** Bytes read so far of `total`. */
  bytes(done: number, total: number): void;
  /** One more event matched. */
  matched(n?: number): void;
  /** Draws the final state and clears the line, leaving the terminal as it was. */
  end(): void;
}

export interface ProgressOptions {
  quiet?: boolean;
  stream?: { isTTY?: boolean; write(s: string): boolean };
  now?: () => number;
}

/**
 * False when descriptor `fd` is certainly not a terminal (not a character device, or closed):
 * told by one fstat, without making process.stderr, whose stream modules (tty or net) are a
 * few milliseconds of a short search's start when nothing is ever drawn or written there.
 */
function mayBeTerminal(fd: number): boolean {
  try {
    return fstatSync(fd).isCharacterDevice();
  } catch {
    return false; // closed: process.stderr would be a stream that is no terminal either
  }
}

const SILENT: Progress = { bytes: () => undefined, matched: () => undefined, end: () => undefined };

/** A progress line on stderr when it is a terminal and not --quiet; otherwise one that draws nothing. */
export function progressOnStderr(options: ProgressOptions = {}): Progress {
  if (options.quiet || (options.stream === undefined && !mayBeTerminal(2))) return SILENT;
  const stream = options.stream ?? process.stderr;
  if (!stream.isTTY) return SILENT;
  const now = options.now ?? Date.now;
  const started = now();
  let state: ProgressState = { done: 0, total: 0, elapsedMs: 0 };
  let drawn = -Infinity;
  let everDrawn = false;
  let stale = false; // the state changed since the line was last drawn
  const draw = (force: boolean): void => {
    const t = now();
    stale = true;
    if (!force && t - drawn < REDRAW_MS) return;
    stale = false;
    drawn = t;
    everDrawn = true;
    state = { ...state, elapsedMs: t - started };
    stream.write(`\r${formatProgress(state)}\x1b[K`);
  };
  return {
    bytes(done, total) {
      state = { ...state, done, total };
      draw(done >= total);
    },
    matched(n = 1) {
      state = { ...state, matched: (state.matched ?? 0) + n };
      draw(false);
    },
    end() {
      if (!everDrawn) return;
      // Events matched after the last redraw (the session scan hands its events out once the
      // bytes are read) are drawn once before the line is cleared.
      if (stale) draw(true);
      stream.write('\r\x1b[K');
    },
  };
}

/** `--quiet`, shared by every command that shows progress. */
export const QUIET_OPTION = {
  quiet: { alias: 'q', type: 'boolean', default: false, describe: 'no progress line on stderr (it is drawn only when stderr is a terminal)' },
} as const;
