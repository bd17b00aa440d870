import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The capability setting a container config ends up with, read the way LXC 5 reads it:
 * `lxc.include` files and directories (*.conf, sorted) in place, `lxc.cap.drop` and
 * `lxc.cap.keep` appending to one list, an empty value clearing it. LXC refuses a config that
 * mixes drop and keep ("mutually exclusive"), so contid never adds a drop to a keep config.
 */
export interface CapSetting {
  mode: 'drop' | 'keep';
  caps: string[];
  /** The file and line that last set the list (for the warning). */
  lastLine: string | null;
}

const AUDIT_CONTROL = 'audit_control';
const MAX_INCLUDE_DEPTH = 8;

/** `text` is the config's content when it differs from the file (an edit not yet written). */
export function capSetting(configFile: string, text?: string): CapSetting {
  const setting: CapSetting = { mode: 'drop', caps: [], lastLine: null };
  if (text === undefined) walk(configFile, setting, 0);
  else walkText(configFile, text, setting, 0);
  return setting;
}

function walk(path: string, s: CapSetting, depth: number): void {
  if (depth > MAX_INCLUDE_DEPTH || !existsSync(path)) return;
  if (statSync(path).isDirectory()) {
    for (const f of readdirSync(path).filter((n) => n.endsWith('.conf')).sort()) walk(join(path, f), s, depth + 1);
    return;
  }
  walkText(path, readFileSync(path, 'utf8'), s, depth);
}

function walkText(path: string, text: string, s: CapSetting, depth: number): void {
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const include = /^lxc\.include\s*=\s*(\S+)\s*$/.exec(line);
    if (include) {
      walk(include[1], s, depth + 1);
      continue;
    }
    const cap = /^lxc\.cap\.(drop|keep)\s*=\s*(.*)$/.exec(line);
    if (!cap) continue;
    const values = cap[2].trim().toLowerCase().split(/\s+/).filter(Boolean);
    s.lastLine = `${path}: ${line}`;
    if (values.length === 0) {
      s.caps = [];
      continue;
    }
    s.mode = cap[1] as 'drop' | 'keep';
    // "lxc.cap.keep = none" keeps nothing.
    s.caps.push(...values.filter((v) => v !== 'none').map((v) => v.replace(/^cap_/, '')));
  }
}

/** Whether root in the container is denied CAP_AUDIT_CONTROL (30), so it cannot re-tag itself. */
export function dropsAuditControl(s: CapSetting): boolean {
  const listed = s.caps.includes(AUDIT_CONTROL) || s.caps.includes('30');
  return s.mode === 'drop' ? listed : !listed;
}

export const CAP_DROP_LINE = `lxc.cap.drop = ${AUDIT_CONTROL}`;
