import { fieldValue, syscallName, type AuditEvent, type AuditRecord } from '@contid/audit';
import { errnoName, sockaddrText } from './interpret-minimal';
import { NETWORK_CALLS, writesFiles } from './syscall-classes';

/** What one event says that a report counts: read once, from its records. */
export interface EventFacts {
  /** exe= of the first record that has one (kernel field or user-record body), like aureport -x. */
  exe: string | null;
  comm: string | null;
  pid: number | null;
  ppid: number | null;
  uid: string | null;
  auid: string | null;
  /** Syscall name (number when no name is known); null for events without a SYSCALL record. */
  syscall: string | null;
  /** false: success=no (SYSCALL) or res=failed (user record); null when the event says nothing. */
  success: boolean | null;
  /** Errno name of a failed syscall (`ENOENT`), or the exit value when it has no name. */
  errno: string | null;
  execve: boolean;
  /** Paths named by PATH records of an event that writes or changes attributes (aureport -f's names). */
  written: string[];
  /** A socket call with its peer/local address (SOCKADDR), when the event has one. */
  network: { call: string; address: string } | null;
  /** ANOM_* and AVC record types in the event. */
  anomalies: string[];
  key: string | null;
}


const num = (v: string | undefined): number | null => (v !== undefined && /^\d{1,10}$/.test(v) ? Number(v) : null);

/**
 * A field's text in which two different byte strings never read alike: fieldValue shows an
 * invalid byte as \ooo, so a backslash that is part of the value itself is shown as \134 first
 * (else /tmp/\xffx and a file literally named /tmp/\377x would count as one executable).
 */
export function exactValue(raw: string, name: string, type: string): string | undefined {
  const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
  const hex = !quoted && raw.length % 2 === 0 && /^[0-9A-F]+$/.test(raw);
  const bytes = quoted ? raw.slice(1, -1) : hex ? Buffer.from(raw, 'hex').toString('latin1') : raw;
  if (!bytes.includes('\\')) return fieldValue(raw, name, type);
  const marked = bytes.replace(/\\/g, '\\134');
  return fieldValue(hex ? Buffer.from(marked, 'latin1').toString('hex').toUpperCase() : `"${marked}"`, name, type);
}

function firstExe(records: AuditRecord[]): string | null {
  for (const r of records) {
    const raw = r.fields.get('exe') ?? r.msg.get('exe');
    if (raw !== undefined) return exactValue(raw, 'exe', r.type) ?? null;
  }
  return null;
}

/** ausearch rebuilds a relative name (./x, ../x) against the event's cwd; so do we. */
function pathName(rec: AuditRecord, cwd: string | null): string | null {
  const raw = rec.fields.get('name');
  if (raw === undefined) return null;
  if (raw === '(null)') return '(null)';
  const name = exactValue(raw, 'name', 'PATH') ?? raw;
  return cwd !== null && (name.startsWith('./') || name.startsWith('../')) ? `${cwd}/${name}` : name;
}

function userOutcome(records: AuditRecord[]): boolean | null {
  for (const r of records) {
    const res = r.msg.get('res') ?? r.fields.get('res');
    if (res !== undefined) return res === 'success' || res === '1' || res === 'yes';
  }
  return null;
}

export function eventFacts(event: AuditEvent): EventFacts {
  const records = event.records;
  const sc = records.find((r) => r.type === 'SYSCALL' || r.type === 'URINGOP');
  const head = sc ?? records[0];
  const field = (name: string): string | undefined => head?.fields.get(name);
  let syscall: string | null = null;
  let success: boolean | null = null;
  let errno: string | null = null;
  if (sc) {
    const number = sc.fields.get('syscall') ?? '';
    syscall = sc.enriched?.get('SYSCALL') ?? syscallName(`${sc.fields.get('arch')}:${number}`) ?? number;
    const s = sc.fields.get('success');
    success = s === undefined ? null : s.replace(/"/g, '') === 'yes';
    if (success === false) errno = errnoName(sc.fields.get('exit') ?? '');
  } else success = userOutcome(records);
  const cwdRec = records.find((r) => r.type === 'CWD');
  const cwd = cwdRec ? (fieldValue(cwdRec.fields.get('cwd'), 'cwd', 'CWD') ?? null) : null;
  const written: string[] = [];
  if (sc && syscall !== null) {
    const paths = records.filter((r) => r.type === 'PATH');
    const created = paths.some((p) => p.fields.get('nametype') === 'CREATE');
    if (writesFiles(syscall, (a) => sc.fields.get(a)) || (syscall === 'openat2' && created)) {
      for (const p of paths) {
        const n = pathName(p, cwd);
        if (n !== null) written.push(n);
      }
    }
  }
  let network: EventFacts['network'] = null;
  if (syscall !== null && NETWORK_CALLS.has(syscall)) {
    const sa = records.find((r) => r.type === 'SOCKADDR')?.fields.get('saddr');
    network = { call: syscall, address: sa !== undefined ? sockaddrText(sa) : '(no address)' };
  }
  const anomalies = [...new Set(records.filter((r) => r.type.startsWith('ANOM_') || r.type === 'AVC' || r.type === 'USER_AVC').map((r) => r.type))];
  const key = sc?.fields.get('key');
  const auid = field('auid') ?? head?.msg.get('auid');
  return {
    exe: firstExe(records),
    comm: fieldValue(field('comm'), 'comm', head?.type) ?? null,
    pid: num(field('pid')),
    ppid: num(field('ppid')),
    uid: field('uid') ?? null,
    auid: auid ?? null,
    syscall,
    success,
    errno,
    execve: records.some((r) => r.type === 'EXECVE'),
    written,
    network,
    anomalies,
    key: key === undefined || key === '(null)' ? null : (fieldValue(key, 'key') ?? null),
  };
}

