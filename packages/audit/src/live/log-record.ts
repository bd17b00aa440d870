/**
 * One auditd log line, parsed just enough for live attribution and output. Interim: the
 * search package's parser (issue #8) replaces this once it exports `parseRecord`.
 */
export interface LogRecord {
  node: string | null;
  type: string;
  /** audit(SEC.MSEC:SERIAL) */
  time: string;
  serial: number;
  /** The record as read, without the enriched part (after 0x1D). */
  raw: string;
  /** Fields outside msg='…' (for user records: stamped by the kernel). */
  fields: Map<string, string>;
  /** Fields inside a user record's msg='…' body; empty for kernel records. */
  msg: Map<string, string>;
  /** The msg='…' body text, for MAC checks. */
  body: string | null;
}

const HEAD = /^(?:node=(\S+) )?type=(\S+) msg=audit\((\d+\.\d+):(\d+)\): ?/;

/** key=value tokens; values may be "quoted" or bare (hex or plain). */
export function splitFields(text: string, into = new Map<string, string>()): Map<string, string> {
  const re = /([A-Za-z0-9_-]+)=("[^"]*"|\S*)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) if (!into.has(m[1])) into.set(m[1], m[2]);
  return into;
}

/** Null for a line that is not an audit record (counted as skipped by the caller). */
export function parseLogLine(line: string): LogRecord | null {
  const gs = line.indexOf('\x1d');
  const raw = gs >= 0 ? line.slice(0, gs) : line;
  const head = HEAD.exec(raw);
  if (!head) return null;
  let rest = raw.slice(head[0].length);
  let body: string | null = null;
  const msg = new Map<string, string>();
  const open = rest.indexOf("msg='");
  if (open >= 0) {
    const close = rest.lastIndexOf("'");
    if (close > open + 4) {
      body = rest.slice(open + 5, close);
      splitFields(body, msg);
      rest = rest.slice(0, open) + rest.slice(close + 1);
    }
  }
  return {
    node: head[1] ?? null,
    type: head[2],
    time: head[3],
    serial: Number(head[4]),
    raw,
    fields: splitFields(rest),
    msg,
    body,
  };
}
