import { lstatSync, type Stats } from 'node:fs';
import { posix } from 'node:path';
import type { Unattributed } from './api-routes';
import { repeatedKey } from './json-keys';

/**
 * What the front allows a caller other than host root to ask dockerd for, judged on the request
 * bodies in which dockerd takes a container's configuration: container create (its HostConfig),
 * exec create, a start or restart with a body (dockerd before API 1.24 applies it as the
 * container's HostConfig), and volume create. An allow-list: every HostConfig field has a rule
 * (HOST_CONFIG_RULES), and a field the table does not know is allowed only empty, so a field a
 * newer dockerd adds is refused until someone decides about it.
 *
 * What it guards: that a container of hers keeps its audit identity (no CAP_AUDIT_CONTROL, no
 * runtime but contid's), cannot reach into another user's container (shared pid/ipc/network
 * namespaces, volumes-from), the host's namespaces, devices or kernel interfaces (capabilities
 * beyond Docker's defaults, unmasked /proc, unconfined profiles), or files she could not reach
 * herself (bind mounts of anything but her own files: dockerd's and the front's sockets,
 * contid's requester notes and state, /etc…).
 */

/** A refusal: `what` was asked, `why` not; `allow` names the `--allow-unattributed` kind that lets root allow it, where there is one. */
export interface Refusal {
  what: string;
  why: string;
  allow?: Unattributed;
}

/** dockerd's runtimes as its `/info` names them: the default's name and which names run contid's shim. */
export interface DockerRuntimes {
  defaultRuntime: string;
  contid: ReadonlySet<string>;
}

/** What a rule may consult: the caller's uid (her own files) and dockerd's runtimes. */
export interface PolicyContext {
  uid: number;
  runtimes: DockerRuntimes;
  /**
   * The kinds root allowed (`--allow-unattributed`): a refusal of such a kind is passed over and
   * the fields after it are judged still — a first refusal root allowed must not hide a second
   * one nobody allowed (`--runtime runc -v /:/host` with runtime allowed).
   */
  allowed?: ReadonlySet<Unattributed>;
  /**
   * A named volume as dockerd has it now (`GET /volumes/{name}`): null when there is none (dockerd
   * makes a plain local one, or one with the mount's own options, judged there), undefined when
   * it could not be asked. Without it, named volumes are not looked up.
   */
  volume?: (name: string) => StoredVolume | null | undefined;
  /** Where host paths are looked up (tests: a fixture tree). */
  lstat?: (path: string) => Stats;
}

/** What dockerd says of a named volume (its driver and driver options), and who the front's note says made it. */
export interface StoredVolume {
  Driver?: unknown;
  Options?: unknown;
  /** The uid that made it through the front (volume-makers.ts); null or absent: nobody the front saw (root's, or made before the front noted makers). */
  madeBy?: number | null;
}

/**
 * dockerd decodes JSON with Go's encoding/json, which matches a key to a field
 * case-insensitively (Unicode simple folding: `ſ` is `s`, `K` (Kelvin) is `k`) and decodes
 * every matching key into the same field (a scalar: the last wins; an object or map: merged).
 * So every key is folded (over-matching is the safe side); a body repeating a folded key is
 * refused outright (parsed, json-keys.ts), and every value under a matching key is judged.
 */
export const foldKey = (key: string): string => key.toUpperCase().toLowerCase();
const fold = foldKey;

function valuesOf(obj: unknown, name: string): unknown[] {
  if (!isObject(obj)) return [];
  const want = fold(name);
  return Object.entries(obj)
    .filter(([k]) => fold(k) === want)
    .map(([, v]) => v);
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go's zero value as JSON gives it (or an empty list or map): what dockerd treats as "not asked for". */
function isEmpty(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return isObject(v) && Object.keys(v).length === 0;
}

const q = (s: unknown): string => JSON.stringify(s) ?? String(s);

/** `r`, unless root allowed its kind (PolicyContext.allowed). */
const unlessAllowed = (r: Refusal | null, ctx: PolicyContext): Refusal | null => (r && !(r.allow && ctx.allowed?.has(r.allow)) ? r : null);

type Rule = (value: unknown, ctx: PolicyContext) => Refusal | null;

/** Any value: it does not change what the container's processes can reach. */
const allowed: Rule = () => null;

/** Only empty (Go's zero value). */
const empty =
  (field: string, why: string): Rule =>
  (v) =>
    isEmpty(v) ? null : { what: `HostConfig.${field} ${q(v)}`, why };

/** Absent or null only: an empty list is not "not asked for" here (MaskedPaths: [] unmasks /proc). */
const absent =
  (field: string, why: string): Rule =>
  (v) =>
    v === null || v === undefined ? null : { what: `HostConfig.${field} ${q(v)}`, why };

/** One of `values` (strings compared exactly, as dockerd compares them). */
const oneOf =
  (field: string, values: readonly string[], why: string): Rule =>
  (v) =>
    v === null || v === undefined || (typeof v === 'string' && values.includes(v)) ? null : { what: `HostConfig.${field} ${q(v)}`, why };

const eachString =
  (field: string, rule: (s: string, ctx: PolicyContext) => Refusal | null): Rule =>
  (v, ctx) => {
    if (v === null || v === undefined) return null;
    if (!Array.isArray(v)) return { what: `HostConfig.${field} ${q(v)}`, why: 'not a list' };
    for (const s of v) {
      const r = typeof s === 'string' ? unlessAllowed(rule(s, ctx), ctx) : { what: `HostConfig.${field} ${q(s)}`, why: 'not a string' };
      if (r) return r;
    }
    return null;
  };

const SHARED = "it would share a namespace with another container, which may be someone else's (the front's notes name who last started a container, not whose it is)";

/** A namespace mode: private ones only; `host` and `container:X` are refused (see SHARED). */
const namespaceMode =
  (field: string, privateModes: readonly string[]): Rule =>
  (v) => {
    if (v === null || v === undefined || (typeof v === 'string' && privateModes.includes(v))) return null;
    const host = v === 'host';
    return { what: `HostConfig.${field} ${q(v)}`, why: host ? "it would share the host's namespace" : typeof v === 'string' && v.startsWith('container:') ? SHARED : 'not a mode allowed for users other than root' };
  };

/**
 * Docker's default capabilities (moby's oci/caps/defaults.go): adding one of these is a no-op
 * unless the image's config dropped it. Any other (SYS_ADMIN, SYS_PTRACE, SYS_MODULE, NET_ADMIN…)
 * reaches past the container.
 */
export const DEFAULT_CAPABILITIES: ReadonlySet<string> = new Set(['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE']);

/** dockerd's own normalisation (upper case, CAP_ prefix optional). */
export function capabilityRefusal(cap: string): Refusal | null {
  const name = cap.toUpperCase().replace(/^CAP_/, '');
  if (name === 'ALL' || name === 'AUDIT_CONTROL') return { what: `--cap-add ${name}`, why: `--cap-add ${name} gives CAP_AUDIT_CONTROL, so root in the container can rewrite its loginuid and leave its audit session`, allow: 'audit-control' };
  if (DEFAULT_CAPABILITIES.has(name)) return null;
  return { what: `--cap-add ${q(cap)}`, why: "only Docker's default capabilities may be added" };
}

/**
 * Security options allowed: `no-new-privileges` (either way: it only takes privileges away),
 * an SELinux level, AppArmor's docker-default profile and seccomp's built-in one. Refused: every
 * `unconfined` (`seccomp=`, `apparmor=`, `systempaths=`), another profile (a custom seccomp
 * profile may allow anything), `label=disable` and SELinux users, roles and types.
 */
const SECURITY_OPTS = [/^no-new-privileges(?:[=:](?:1|0|t|f|T|F|true|false|TRUE|FALSE|True|False))?$/, /^label[=:]level:[A-Za-z0-9:,.-]*$/, /^apparmor[=:]docker-default$/, /^seccomp[=:]builtin$/];

function securityOptRefusal(opt: string): Refusal | null {
  if (SECURITY_OPTS.some((re) => re.test(opt))) return null;
  return { what: `--security-opt ${q(opt)}`, why: 'only no-new-privileges, label=level:…, apparmor=docker-default and seccomp=builtin are allowed' };
}

export function runtimeRefusal(v: unknown, ctx: Pick<PolicyContext, 'runtimes'>): Refusal | null {
  if (v !== null && v !== undefined && typeof v !== 'string') return { what: `HostConfig.Runtime ${q(v)}`, why: 'not a string' };
  const runtime = v || ctx.runtimes.defaultRuntime;
  if (ctx.runtimes.contid.has(runtime) || !ctx.runtimes.contid.has(ctx.runtimes.defaultRuntime)) return null;
  return { what: `runtime ${q(runtime)}`, why: `runtime ${q(runtime)} is not contid's, so the container would run with no audit session or requester of its own`, allow: 'runtime' };
}

export const privilegedRefusal = (v: unknown): Refusal | null =>
  v === null || v === undefined || v === false ? null : { what: '--privileged', why: 'a privileged container holds CAP_AUDIT_CONTROL, so root in it can rewrite its loginuid and leave its audit session', allow: 'audit-control' };
const privilegedRule: Rule = (v) => privilegedRefusal(v);

/**
 * Why a bind mount of host path `source` may not be made for uid `ctx.uid` (null: it may).
 * Hers, and hers to stay: the path is written plainly (absolute, no `.`/`..`, no symlink on the
 * way), every directory above it is root's and not writable by group or others (or sticky with
 * a root-owned entry: /tmp/root-made-dir/…), so nobody — she least — can swap any part of it for
 * a symlink to dockerd's socket between this check and the mount at each later start; and the
 * path itself is a directory or regular file she owns. And read-only: root in the container is
 * root on her files, and would leave a set-uid root program or a device node there for her to
 * use on the host.
 */
export function bindRefusal(source: string, readOnly: boolean, ctx: PolicyContext): Refusal | null {
  const what = `bind mount of ${q(source)}`;
  const lstat = ctx.lstat ?? lstatSync;
  if (!source.startsWith('/') || posix.normalize(source) !== source || (source.endsWith('/') && source !== '/')) return { what, why: 'a host path must be written as a plain absolute path (no ., .., // or trailing /)' };
  if (!readOnly) return { what, why: 'only read-only bind mounts are allowed (:ro, or readonly with --mount): root in the container could leave a set-uid program or a device node in your files for use on the host' };
  const parts = source.split('/').filter(Boolean);
  const paths = ['/', ...parts.map((_p, i) => '/' + parts.slice(0, i + 1).join('/'))];
  let st: Stats;
  try {
    for (let i = 0; i < paths.length - 1; i++) {
      const dir = lstat(paths[i]!);
      if (!dir.isDirectory() || dir.uid !== 0) return { what, why: `${paths[i]} is not a directory of root's, so the path could be redirected` };
      if ((dir.mode & 0o022) !== 0 && !((dir.mode & 0o1000) !== 0 && lstat(paths[i + 1]!).uid === 0)) return { what, why: `${paths[i]} may be written by group or others, so the path could be redirected` };
    }
    st = lstat(source);
  } catch (e) {
    return { what, why: `cannot check it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  if (!st.isDirectory() && !st.isFile()) return { what, why: 'only a directory or a regular file may be bind-mounted' };
  if (st.uid !== ctx.uid) return { what, why: `it is owned by uid ${st.uid}, not by you (uid ${ctx.uid}); only your own files may be bind-mounted` };
  return null;
}

/** dockerd's bind mode words (volume/mounts: ValidMountMode): `src:dst:MODE`, or `dst:MODE` for an anonymous volume. */
const MODE_WORDS = new Set(['ro', 'rw', 'z', 'Z', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'nocopy', 'consistent', 'cached', 'delegated']);
const isMode = (s: string): boolean => s.split(',').every((w) => MODE_WORDS.has(w));

/** A `-v` entry (HostConfig.Binds) as dockerd's Linux parser splits it: a host path source is a bind mount. */
function bindsEntryRefusal(spec: string, ctx: PolicyContext): Refusal | null {
  const parts = spec.split(':');
  if (parts.length > 3) return { what: `-v ${q(spec)}`, why: 'not a volume spec' };
  if (parts.length === 1 || (parts.length === 2 && isMode(parts[1]!))) return null; // an anonymous volume
  const [source, , mode = ''] = parts;
  if (!source!.startsWith('/')) return namedVolumeRefusal(source!, ctx);
  return bindRefusal(source!, mode.split(',').includes('ro'), ctx);
}

/**
 * Options of dockerd's `local` volume driver (`docker volume create -o`, `--mount
 * volume-opt=`): it mounts `device` as `type` with `o`, as root — `o=bind` binds any host path,
 * and a block device or another file system reaches the host's disks. A tmpfs only is allowed;
 * other drivers are plugins (refused as `plugins`). A bind is asked for with a bind mount, where
 * the container's own read-only flag is seen (bindRefusal).
 *
 * `o` is judged word by word as moby's mount parses it (each comma word is a flag of its table or
 * else file-system data): an allow-list, because that table maps more words than `bind` to a
 * bind mount (`rbind`; `move` and `remount` act on the mount at `device`) and with MS_BIND the
 * kernel ignores the type and binds `device` (outside attack 11, V2: `o=rbind,device=/`).
 */
export function volumeOptionsRefusal(driver: unknown, opts: unknown): Refusal | null {
  if (driver !== null && driver !== undefined && driver !== '' && driver !== 'local') return { what: `volume driver ${q(driver)}`, why: "only dockerd's local volume driver is allowed (others are plugins)" };
  if (isEmpty(opts)) return null;
  if (!isObject(opts)) return { what: `volume options ${q(opts)}`, why: 'not a map' };
  const refused = (why: string): Refusal => ({ what: `volume options ${q(opts)}`, why: `only a tmpfs may be given as local volume options (type=tmpfs, device tmpfs or none, o of tmpfs's own options): ${why}; bind-mount your own files with a read-only bind mount instead` });
  for (const [k, v] of Object.entries(opts)) {
    if (!TMPFS_VOLUME_KEYS.has(k)) return refused(`option ${q(k)} is not one of ${[...TMPFS_VOLUME_KEYS].join(', ')}`);
    if (typeof v !== 'string') return refused(`option ${q(k)} is not a string`);
  }
  if (opts.type !== 'tmpfs') return refused('type is not tmpfs');
  if (opts.device !== undefined && opts.device !== '' && opts.device !== 'tmpfs') return refused('a tmpfs has no device');
  const o = typeof opts.o === 'string' ? opts.o : '';
  for (const word of o === '' ? [] : o.split(',')) {
    const eq = word.indexOf('=');
    if (eq < 0 ? !TMPFS_FLAGS.has(word) : !TMPFS_DATA.has(word.slice(0, eq))) return refused(`o holds ${q(word)}, which is not one of tmpfs's data options (${[...TMPFS_DATA].join(', ')}) or flags (${[...TMPFS_FLAGS].join(', ')})`);
  }
  return null;
}

/** The local driver's option names (moby's volume/local validOpts) a tmpfs needs. */
const TMPFS_VOLUME_KEYS = new Set(['type', 'device', 'o', 'size']);
/** tmpfs's own data options (`key=value`; mm/shmem.c): none names a path. */
const TMPFS_DATA = new Set(['size', 'nr_blocks', 'nr_inodes', 'mode', 'uid', 'gid', 'huge', 'mpol']);
/** Words of moby's mount flag table that only restrict or time a new mount: no bind, move, remount, propagation. */
const TMPFS_FLAGS = new Set(['defaults', 'ro', 'rw', 'nosuid', 'nodev', 'noexec', 'sync', 'async', 'dirsync', 'atime', 'noatime', 'diratime', 'nodiratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime']);

/**
 * A named volume a mount uses (`-v NAME:/dst`, `--mount type=volume,source=NAME`). One that does
 * not exist yet is dockerd's to make, and hers (the front notes her as its maker). One that
 * exists is judged by its driver and options as its create would have been — root's `docker
 * volume create -o type=none -o o=bind -o device=/` binds / for whoever mounts it — and must be
 * hers: a plain volume of root's (a database's data, the scripts a root service's container
 * runs) mounted by her, read-only or not, gave her root's data, and what she wrote into it ran
 * as root in root's container next (outside attack 11, V3).
 */
function namedVolumeRefusal(name: string, ctx: PolicyContext): Refusal | null {
  const volume = ctx.volume?.(name);
  if (!ctx.volume || volume === null) return null;
  const what = `volume ${q(name)}`;
  if (volume === undefined) return { what, why: 'dockerd could not be asked what it is' };
  const r = volumeOptionsRefusal(volume.Driver, volume.Options);
  if (r) return { what, why: `its ${r.what}: ${r.why}` };
  if (volume.madeBy === ctx.uid) return null;
  const whose = typeof volume.madeBy === 'number' ? `it was made by uid ${volume.madeBy}, not by you (uid ${ctx.uid})` : "it was not made by you through the front (it may be root's: its data, and what root's containers run from it)";
  return { what, why: `${whose}; only the volumes you make may be mounted (a new name with -v or --mount, or docker volume create)` };
}

/** One entry of HostConfig.Mounts (`--mount`): a bind's source as bindRefusal judges it, a volume's (named: namedVolumeRefusal) and its driver options, a tmpfs. */
function mountRefusal(m: unknown, ctx: PolicyContext): Refusal | null {
  if (!isObject(m)) return { what: `--mount ${q(m)}`, why: 'not an object' };
  const types = valuesOf(m, 'Type');
  const readOnly = valuesOf(m, 'ReadOnly');
  if (types.length && types.every((t) => t === 'tmpfs')) return null;
  if (types.length && types.every((t) => t === 'volume')) {
    for (const source of valuesOf(m, 'Source')) {
      const r = source === null || source === '' ? null : typeof source !== 'string' ? { what: `--mount source ${q(source)}`, why: 'not a string' } : namedVolumeRefusal(source, ctx);
      if (r) return r;
    }
    for (const vo of valuesOf(m, 'VolumeOptions')) {
      for (const dc of valuesOf(vo, 'DriverConfig')) {
        for (const name of [...valuesOf(dc, 'Name'), undefined]) {
          for (const opts of [...valuesOf(dc, 'Options'), undefined]) {
            const r = volumeOptionsRefusal(name, opts);
            if (r) return r;
          }
        }
      }
    }
    return null;
  }
  // A bind, or a type dockerd would refuse anyway: the source must be hers and read-only.
  const sources = valuesOf(m, 'Source');
  if (!sources.length) return { what: `--mount ${q(m)}`, why: 'a bind mount needs a source' };
  for (const s of sources) {
    const r = typeof s === 'string' ? bindRefusal(s, readOnly.length > 0 && readOnly.every((v) => v === true), ctx) : { what: `--mount source ${q(s)}`, why: 'not a string' };
    if (r) return r;
  }
  return null;
}

/**
 * HostConfig.LogConfig (`--log-driver`, `--log-opt`): dockerd, uid 0 with every capability,
 * runs the driver itself. syslog, fluentd, gelf, splunk… dial an address the client names
 * (`syslog-address=unix:///run/contid/contid.sock`) and write her tag's bytes into it, newlines
 * and all: a root-only socket with a line protocol (contid serve's host channel) took her lines as
 * requests of dockerd's (outside attack 11, L0). So only the drivers that write where dockerd
 * decides, each with options that name no address or path (LOG_OPTIONS). `tag` only where its
 * bytes land escaped in dockerd's own JSON file (json-file): journald takes it (and label and env
 * values) as SYSLOG_IDENTIFIER, the name journal readers filter by, so she could pose as sshd;
 * with the daemon's default driver (Type "") its options go to whatever driver that is.
 */
function logConfigRefusal(v: unknown): Refusal | null {
  if (v === null || v === undefined) return null;
  const refused = (why: string): Refusal => ({ what: `HostConfig.LogConfig ${q(v)}`, why });
  if (!isObject(v)) return refused('not an object');
  if (Object.keys(v).some((k) => fold(k) !== 'type' && fold(k) !== 'config')) return refused('only Type and Config may be given');
  const types = valuesOf(v, 'Type').map((t) => (t === null ? '' : t));
  const type = types[0];
  if (types.length > 1 || (type !== undefined && (typeof type !== 'string' || !Object.hasOwn(LOG_OPTIONS, type)))) {
    return refused(`only the drivers that write where dockerd decides are allowed (${Object.keys(LOG_OPTIONS).filter(Boolean).join(', ')}, or the daemon's default): others send the log to an address the caller names, as root`);
  }
  const options = LOG_OPTIONS[type ?? '']!;
  for (const config of valuesOf(v, 'Config')) {
    if (config === null) continue;
    if (!isObject(config)) return refused('Config is not a map');
    for (const [k, o] of Object.entries(config)) {
      if (typeof o !== 'string') return refused(`option ${q(k)} is not a string`);
      if (!options.includes(k)) return refused(`option ${q(k)} is not one of ${type ? `the ${type} driver's` : "the daemon's default driver's"} allowed options (${options.join(', ') || 'none'}): none of them names an address or a path`);
    }
  }
  return null;
}

/** dockerd's buffering options, which every driver takes (daemon/logger: mode, max-buffer-size). */
const LOG_BUFFERING = ['mode', 'max-buffer-size'];
/** The drivers allowed (by `Type`; "" is the daemon's default) and the options of each that are allowed. */
const LOG_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  '': [...LOG_BUFFERING, 'max-size', 'max-file', 'compress'],
  'json-file': [...LOG_BUFFERING, 'max-size', 'max-file', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag'],
  local: [...LOG_BUFFERING, 'max-size', 'max-file', 'compress'],
  journald: LOG_BUFFERING,
  none: LOG_BUFFERING,
};

const NOT_FOR_USERS = 'it is not allowed for users other than root';

/**
 * Every HostConfig field of dockerd 20.10 (API 1.41; the resources are HostConfig's embedded
 * Resources) and its rule for a caller other than host root. Keys as dockerd spells them; a key
 * the table does not know must be empty.
 */
export const HOST_CONFIG_RULES: Readonly<Record<string, Rule>> = {
  Binds: eachString('Binds', bindsEntryRefusal),
  ContainerIDFile: allowed,
  LogConfig: logConfigRefusal,
  // Any network but the host's (its abstract sockets: containerd's shims, D-Bus) or another container's.
  NetworkMode: (v, ctx) => (typeof v === 'string' && v !== 'host' && !v.startsWith('container:') ? null : namespaceMode('NetworkMode', [])(v, ctx)),
  PortBindings: allowed,
  RestartPolicy: allowed,
  AutoRemove: allowed,
  VolumeDriver: oneOf('VolumeDriver', ['', 'local'], "only dockerd's local volume driver is allowed (others are plugins)"),
  VolumesFrom: empty('VolumesFrom', "it would mount another container's volumes, which may be someone else's"),
  ConsoleSize: allowed,
  CapAdd: eachString('CapAdd', capabilityRefusal),
  CapDrop: allowed,
  // The host's cgroup namespace shows the host's whole cgroup tree; a private one is Docker's default on cgroup v2.
  CgroupnsMode: oneOf('CgroupnsMode', ['', 'private'], "it would share the host's cgroup namespace"),
  Dns: allowed,
  DnsOptions: allowed,
  DnsSearch: allowed,
  ExtraHosts: allowed,
  GroupAdd: allowed,
  IpcMode: namespaceMode('IpcMode', ['', 'none', 'private', 'shareable']),
  Cgroup: empty('Cgroup', SHARED),
  Links: allowed,
  OomScoreAdj: allowed,
  PidMode: namespaceMode('PidMode', ['']),
  Privileged: privilegedRule,
  PublishAllPorts: allowed,
  ReadonlyRootfs: allowed,
  SecurityOpt: eachString('SecurityOpt', securityOptRefusal),
  StorageOpt: (v) => (v === null || v === undefined || (isObject(v) && Object.keys(v).every((k) => k === 'size')) ? null : { what: `HostConfig.StorageOpt ${q(v)}`, why: 'only size is allowed' }),
  Tmpfs: allowed,
  UTSMode: namespaceMode('UTSMode', ['']),
  UsernsMode: namespaceMode('UsernsMode', ['']),
  ShmSize: allowed,
  // dockerd itself refuses sysctls outside the container's own namespaces (net.*, kernel.shm*, …; net.* with the host's network).
  Sysctls: allowed,
  Runtime: runtimeRefusal,
  Isolation: oneOf('Isolation', ['', 'default'], NOT_FOR_USERS),
  CpuShares: allowed,
  Memory: allowed,
  NanoCpus: allowed,
  CgroupParent: empty('CgroupParent', 'it would place the container in a cgroup of your choosing (another container\'s, a service\'s)'),
  BlkioWeight: allowed,
  BlkioWeightDevice: allowed,
  BlkioDeviceReadBps: allowed,
  BlkioDeviceWriteBps: allowed,
  BlkioDeviceReadIOps: allowed,
  BlkioDeviceWriteIOps: allowed,
  CpuPeriod: allowed,
  CpuQuota: allowed,
  CpuRealtimePeriod: allowed,
  CpuRealtimeRuntime: allowed,
  CpusetCpus: allowed,
  CpusetMems: allowed,
  Devices: empty('Devices', "it would give the container the host's devices"),
  DeviceCgroupRules: empty('DeviceCgroupRules', "it would let the container use the host's devices"),
  DeviceRequests: empty('DeviceRequests', "it would give the container the host's devices (and run a device hook as root)"),
  KernelMemory: allowed,
  KernelMemoryTCP: allowed,
  MemoryReservation: allowed,
  MemorySwap: allowed,
  MemorySwappiness: allowed,
  OomKillDisable: allowed,
  PidsLimit: allowed,
  Ulimits: allowed,
  CpuCount: allowed,
  CpuPercent: allowed,
  IOMaximumIOps: allowed,
  IOMaximumBandwidth: allowed,
  Mounts: (v, ctx) => {
    if (v === null || v === undefined) return null;
    if (!Array.isArray(v)) return { what: `HostConfig.Mounts ${q(v)}`, why: 'not a list' };
    for (const m of v) {
      const r = mountRefusal(m, ctx);
      if (r) return r;
    }
    return null;
  },
  // `--security-opt systempaths=unconfined` reaches dockerd as these two, empty: /proc/sys, /proc/kcore… writable or unmasked.
  MaskedPaths: absent('MaskedPaths', "it would unmask /proc's host interfaces (systempaths=unconfined)"),
  ReadonlyPaths: absent('ReadonlyPaths', "it would make /proc/sys and other host interfaces writable (systempaths=unconfined)"),
  Init: allowed,
};

const RULES_BY_KEY = new Map(Object.entries(HOST_CONFIG_RULES).map(([k, rule]) => [fold(k), rule]));

/**
 * A HostConfig as dockerd would take it. `strict`: a key the table does not know must be empty
 * (the inner HostConfig); otherwise such keys are skipped (the create body's top level, where
 * the container's Config fields sit beside HostConfig's).
 */
export function hostConfigRefusal(host: unknown, ctx: PolicyContext, strict = true): Refusal | null {
  if (host === null || host === undefined) return null;
  if (!isObject(host)) return { what: `HostConfig ${q(host)}`, why: 'not an object' };
  for (const [key, value] of Object.entries(host)) {
    const rule = RULES_BY_KEY.get(fold(key));
    if (!rule) {
      if (strict && !isEmpty(value)) return { what: `HostConfig.${key} ${q(value)}`, why: 'a HostConfig field contid does not know is allowed only empty' };
      continue;
    }
    const r = unlessAllowed(rule(value, ctx), ctx);
    if (r) return r;
  }
  return null;
}

/**
 * The request body as JSON, or the refusal of one dockerd could read differently: not JSON, or
 * with a key repeated in one object (json-keys.ts: JSON.parse keeps the last, dockerd merges them).
 */
function parsed(body: Buffer, what: string): { json: unknown } | Refusal {
  if (body.length === 0) return { json: null };
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { what, why: 'its body is not JSON' };
  }
  const key = repeatedKey(text, fold);
  if (key !== null) return { what, why: `its body repeats the key ${q(key)} in one object (letter case aside), which dockerd would merge unseen by the front's check` };
  return { json };
}

/**
 * `POST /containers/create`. dockerd (runconfig's ContainerConfigWrapper) takes the inner
 * `HostConfig` and, for old clients, HostConfig's fields at the top level too (all of them when
 * there is no inner one, a few resources otherwise): both are judged.
 */
export function containerCreateRefusal(body: Buffer, ctx: PolicyContext): Refusal | null {
  const p = parsed(body, 'container create');
  if ('what' in p) return p;
  if (!isObject(p.json)) return p.json === null ? null : { what: 'container create', why: 'its body is not a JSON object' };
  for (const labels of valuesOf(p.json, 'Labels')) {
    const r = labelsRefusal(labels);
    if (r) return r;
  }
  for (const inner of valuesOf(p.json, 'HostConfig')) {
    const r = hostConfigRefusal(inner, ctx);
    if (r) return r;
  }
  return hostConfigRefusal(p.json, ctx, false);
}

/**
 * The label key prefixes contid's CRI path writes into the registry for a pod's containers
 * (podIdentityLabels: the kubelet's `io.kubernetes.*`, contid's own `contid.io/*`). A docker
 * container's labels are its creator's words, and `contid ps --label io.kubernetes.pod.namespace=
 * kube-system` listed hers beside real pods (outside attack 13, F7). Matched in any letter case
 * (over-matching is the safe side); docker-compose's `com.docker.compose.*` and any other key stay hers.
 */
export const RESERVED_LABEL_PREFIXES: readonly string[] = ['io.kubernetes.', 'contid.io/'];

/**
 * A container create's `Labels` (a map of strings), refused when a key is one contid's CRI path
 * writes; `of`: whose labels they are in the refusal (an image's: a container gets its image's
 * labels, and her `docker commit --change 'LABEL …'` or a pulled image sets any).
 */
export function labelsRefusal(v: unknown, of = 'container'): Refusal | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) return { what: `${of} labels ${q(v)}`, why: 'not a map' };
  for (const key of Object.keys(v)) {
    const k = key.toLowerCase();
    if (RESERVED_LABEL_PREFIXES.some((prefix) => k.startsWith(prefix))) return { what: `${of} label ${q(key)}`, why: `label keys starting ${RESERVED_LABEL_PREFIXES.join(' or ')} are the ones contid writes for Kubernetes pods' containers, so yours would be listed as a pod's (contid ps --label); choose another key` };
  }
  return null;
}

/** The image a container create names (its `Image`), null when none or not a string. */
export function createImage(body: Buffer): string | null {
  const p = parsed(body, 'container create');
  if ('what' in p) return null;
  const image = valuesOf(p.json, 'Image').at(-1);
  return typeof image === 'string' && image !== '' ? image : null;
}

/** `POST /containers/{id}/exec`: a privileged exec holds every capability, CAP_AUDIT_CONTROL too. */
export function execCreateRefusal(body: Buffer): Refusal | null {
  const p = parsed(body, 'exec create');
  if ('what' in p) return p;
  if (valuesOf(p.json, 'Privileged').some((v) => v !== false && v !== null)) return { what: 'exec --privileged', why: 'a privileged exec holds CAP_AUDIT_CONTROL, so root in it can rewrite its loginuid and leave its audit session', allow: 'audit-control' };
  return null;
}

/**
 * `POST /containers/{id}/start|restart` with a body: dockerd before API 1.24 (the `/v1.23/`
 * prefix) applies it as the container's new HostConfig, after the front judged the old one.
 * Refused whatever it holds: no client has sent one since Docker 1.12.
 */
export function startBodyRefusal(body: Buffer): Refusal | null {
  if (body.length === 0) return null;
  return { what: 'a start or restart with a body', why: 'dockerd before API 1.24 would take it as the container\'s new HostConfig, unjudged; create the container with its configuration instead' };
}

/** The name a `POST /volumes/create` body asks for (null: none, dockerd picks one), once volumeCreateRefusal passed it. */
export function volumeCreateName(body: Buffer): string | null {
  const p = parsed(body, 'volume create');
  if ('what' in p) return null;
  const name = valuesOf(p.json, 'Name')[0];
  return typeof name === 'string' && name !== '' ? name : null;
}

/** `POST /volumes/create`: its driver and driver options (volumeOptionsRefusal), and a name that is a string. */
export function volumeCreateRefusal(body: Buffer): Refusal | null {
  const p = parsed(body, 'volume create');
  if ('what' in p) return p;
  const names = valuesOf(p.json, 'Name');
  if (names.some((n) => n !== null && typeof n !== 'string')) return { what: `volume create Name ${q(names[0])}`, why: 'not a string' };
  const drivers = [...valuesOf(p.json, 'Driver'), undefined];
  const options = [...valuesOf(p.json, 'DriverOpts'), undefined];
  for (const d of drivers) {
    for (const o of options) {
      const r = volumeOptionsRefusal(d, o);
      if (r) return r;
    }
  }
  return null;
}

/**
 * `POST /networks/create` (outside attack 12, P1). dockerd looks a driver it does not have up
 * through the legacy plugin discovery, which joins the name into /run/docker/plugins/NAME.sock
 * (and NAME.spec|json under /etc/docker/plugins): `-d ../../../her/dir/p` made dockerd, as root,
 * talk the NetworkDriver protocol to her process, whose Join answer moved a host interface into
 * her container. The same holds for an IPAM driver. Of dockerd 20.10's built-in drivers (bridge,
 * host, null, macvlan, ipvlan, overlay), `host` and `null` are single instances it makes itself,
 * macvlan and ipvlan take a host interface (`parent`), overlay needs swarm: only `bridge` (or
 * none: dockerd's default, bridge). An allow-list of the body's fields (NETWORK_CREATE_RULES:
 * Go's struct keys folded; a field it does not know only empty) and of the bridge driver's
 * options (exact: Go map keys), none of which names a host interface or an existing bridge
 * (`com.docker.network.bridge.name=docker0` would put her containers on root's bridge). No
 * address pools of her own (IPAM.Config): dockerd's own choice avoids the host's routes, a
 * subnet she names would not (one over the host's LAN takes its traffic to her bridge).
 */
export function networkCreateRefusal(body: Buffer): Refusal | null {
  const p = parsed(body, 'network create');
  if ('what' in p) return p;
  if (p.json === null) return null;
  if (!isObject(p.json)) return { what: 'network create', why: 'its body is not a JSON object' };
  for (const [key, value] of Object.entries(p.json)) {
    const rule = NETWORK_RULES_BY_KEY.get(fold(key));
    const r = rule ? rule(value) : isEmpty(value) ? null : { what: `network create field ${q(key)}`, why: 'a field contid does not know is allowed only empty' };
    if (r) return r;
  }
  return null;
}

type NetworkRule = (value: unknown) => Refusal | null;
const networkRefused = (field: string, value: unknown, why: string): Refusal => ({ what: `network create ${field} ${q(value)}`, why });
/** Only Go's zero value (false, "", null, {}, []). */
const networkEmpty =
  (field: string, why: string): NetworkRule =>
  (v) =>
    isEmpty(v) ? null : networkRefused(field, v, why);

/** The bridge driver's options (exact keys) that name no host interface or bridge and make no network the default one. */
export const BRIDGE_OPTIONS: ReadonlySet<string> = new Set([
  'com.docker.network.bridge.enable_icc',
  'com.docker.network.bridge.enable_ip_masquerade',
  'com.docker.network.bridge.host_binding_ipv4',
  'com.docker.network.driver.mtu',
  'com.docker.network.container_iface_prefix',
]);

function ipamRefusal(v: unknown): Refusal | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) return networkRefused('IPAM', v, 'not an object');
  for (const [key, value] of Object.entries(v)) {
    const k = fold(key);
    if (k === 'driver') {
      if (value !== null && value !== '' && value !== 'default') return networkRefused('IPAM.Driver', value, "only dockerd's default IPAM driver is allowed: another name is looked up as a plugin, by a path the name is joined into");
    } else if (!isEmpty(value)) {
      return networkRefused(`IPAM.${key}`, value, "only dockerd's own address pools are allowed (no --subnet, --ip-range, --gateway, --aux-address or IPAM options): dockerd picks a pool clear of the host's routes, a subnet you name need not be; root may make such a network");
    }
  }
  return null;
}

function bridgeOptionsRefusal(v: unknown): Refusal | null {
  if (v === null || v === undefined) return null;
  if (!isObject(v)) return networkRefused('Options', v, 'not a map');
  for (const [key, value] of Object.entries(v)) {
    if (typeof value !== 'string') return networkRefused(`option ${q(key)}`, value, 'not a string');
    if (!BRIDGE_OPTIONS.has(key)) return networkRefused(`option ${q(key)}`, value, `only the bridge driver's options that name no host interface or existing bridge are allowed (${[...BRIDGE_OPTIONS].join(', ')})`);
  }
  return null;
}

const NETWORK_CREATE_RULES: Readonly<Record<string, NetworkRule>> = {
  Name: () => null,
  CheckDuplicate: () => null,
  Driver: (v) => (v === null || v === '' || v === 'bridge' ? null : networkRefused('driver', v, "only dockerd's bridge driver is allowed: another name is looked up as a plugin by a path the name is joined into (dockerd would run the protocol with whatever listens there, as root), macvlan and ipvlan take a host interface, host and null are dockerd's own")),
  Scope: (v) => (v === null || v === '' || v === 'local' ? null : networkRefused('Scope', v, 'only a local network is allowed')),
  EnableIPv6: () => null,
  IPAM: ipamRefusal,
  Internal: () => null,
  // dockerd reads it only for a network swarm manages (which container may attach to it by hand);
  // on a local bridge it is a stored flag. docker-compose 1.29 sets it on every network it makes
  // (API ≥ 1.24), so refusing it refused `docker-compose up` (CI at f16394a): the driver rule
  // above already keeps her networks local bridges.
  Attachable: () => null,
  Ingress: networkEmpty('Ingress', "the ingress network is swarm's routing mesh"),
  ConfigOnly: networkEmpty('ConfigOnly', 'a configuration-only network is for another network to take its configuration from'),
  ConfigFrom: networkEmpty('ConfigFrom', "it would take another network's configuration (its parent interface, its pools), unjudged"),
  Options: bridgeOptionsRefusal,
  Labels: () => null,
};
const NETWORK_RULES_BY_KEY = new Map(Object.entries(NETWORK_CREATE_RULES).map(([k, rule]) => [fold(k), rule]));

/**
 * `POST /networks/{id}/connect|disconnect`: the container it names (the body's `Container`, one
 * string), or the refusal of a body that does not name exactly one.
 */
/**
 * A network connect or disconnect body (networkAttachContainer accepted it) naming the container
 * by full id `id` instead: its one `Container` key (in whatever letter case) gets `id`, the rest
 * is kept as it was parsed.
 */
export function networkAttachBody(body: Buffer, id: string): Buffer {
  const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  const key = Object.keys(json).find((k) => fold(k) === fold('Container'));
  if (key === undefined) throw new Error('a network connect or disconnect body without Container');
  json[key] = id;
  return Buffer.from(JSON.stringify(json), 'utf8');
}

export function networkAttachContainer(body: Buffer): { container: string } | Refusal {
  const p = parsed(body, 'network connect or disconnect');
  if ('what' in p) return p;
  const names = valuesOf(p.json, 'Container');
  const name = names[0];
  if (names.length !== 1 || typeof name !== 'string' || name === '') return { what: 'network connect or disconnect', why: 'its body must name one container' };
  return { container: name };
}
