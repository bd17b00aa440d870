import type { BodyKind, Head } from './http-framing';

/**
 * The Docker API calls after which a container or an exec runs processes, so the front must
 * note who asked before dockerd passes them to the runtime. Everything else is only relayed.
 * Paths may carry a version prefix (/v1.41/…); refs are ids, id prefixes or names.
 *
 * The front must classify a target exactly as dockerd routes it, or a start it does not
 * recognise runs unnoted: dockerd (Go's net/http and gorilla/mux) routes on the percent-decoded
 * path of an origin-form or absolute-form target, under any `/v{[0-9.]+}` prefix. So the path is
 * decoded whole before it is split, the prefix is dockerd's, and a target that is not a plain
 * path (`http://host/…`, `*`) or does not decode is refused by the front (targetProblem).
 */
export type ApiRoute =
  | { kind: 'container-create' }
  | { kind: 'container-start'; ref: string }
  | { kind: 'exec-create'; ref: string }
  | { kind: 'exec-start'; id: string }
  | { kind: 'container-remove'; ref: string }
  /** A call that changes what dockerd's own later runs of the container execute (see CHANGES). */
  | { kind: 'container-change'; ref: string; what: Change }
  /**
   * `GET|HEAD /containers/{ref}/archive` (`docker cp` out), and the legacy `POST
   * /containers/{ref}/copy` that dockerd 20.10 still serves below API 1.20 (outside attack 11,
   * C3): they read files through the container's mounts.
   */
  | { kind: 'container-read'; ref: string }
  /**
   * A call that points an image tag at an image (outside attack 11, I1): `POST /commit`,
   * `POST /images/{name}/tag`, an import (`POST /images/create` without fromImage) — `tag` is
   * the `repo[:tag]` it names (null: none, the image stays untagged) — and `POST /images/load`,
   * whose tags are inside the archive (null). Root's next run of a tag she re-pointed runs her image.
   */
  | { kind: 'image-tag'; what: 'commit' | 'tag' | 'import' | 'load'; tag: string | null }
  /** `POST /volumes/create`: its driver options may mount host paths and devices (request-policy.ts); its maker is noted (volume-makers.ts). */
  | { kind: 'volume-create' }
  /**
   * `DELETE /volumes/{name}` (`docker volume rm`): removing root's volume frees its name, and the
   * volume she then made under it would be the one root's containers mount (outside attack 11, V3).
   */
  | { kind: 'volume-remove'; name: string }
  /** `POST /volumes/prune`: removes every volume no container uses, whoever made it (refused for users other than root). */
  | { kind: 'volume-prune' }
  /**
   * `POST /networks/create`: a driver dockerd does not have is looked up by name through the
   * legacy plugin discovery, which joins the name into /run/docker/plugins/NAME.sock (outside
   * attack 12, P1: `-d ../../../her/dir/p` made dockerd load her process as a network driver);
   * macvlan/ipvlan and bridge options name host interfaces (request-policy.ts networkCreateRefusal).
   */
  | { kind: 'network-create' }
  /**
   * `POST /networks/{id}/connect|disconnect`: the container is named in the body (outside attack
   * 12, P2: root's container connected to a network of hers).
   */
  | { kind: 'network-attach' }
  /**
   * `POST /containers/{ref}/rename`: a container's name is what root's scripts' `docker exec NAME`
   * finds (outside attack 12, R1: root's container renamed away and the name taken).
   */
  | { kind: 'container-rename'; ref: string }
  /**
   * `POST /containers/{ref}/kill|stop`: dockerd removes a container made with AutoRemove (`run
   * --rm`) once it ends, freeing its name as a removal would (outside attack 13, F3).
   */
  | { kind: 'container-end'; ref: string }
  /**
   * `DELETE /networks/{ref}` (`docker network rm`): removing root's network frees its name, and
   * root's next `--network NAME` would join the one she made under it (outside attack 13, F4).
   */
  | { kind: 'network-remove'; ref: string }
  /** `POST /networks/prune`: removes every network no container uses, whoever made it (refused for users other than root). */
  | { kind: 'network-prune' }
  /** `POST /containers/prune`: removes every stopped container, whoever made it (refused for users other than root). */
  | { kind: 'container-prune' }
  /**
   * `DELETE /images/{name}` (`docker rmi`, untag) and `POST /images/prune`: removing root's tag
   * makes it a new tag again for the image-tag check (outside attack 12, I2).
   */
  | { kind: 'image-remove' }
  /** A call after which dockerd runs processes no create, start or exec of the client names (see UNATTRIBUTED). */
  | { kind: 'unattributed'; what: Unattributed };

/**
 * What dockerd runs processes for on its own, with no create, start or exec of the client's to
 * note: `build` (the legacy builder's RUN containers, created and started inside dockerd;
 * BuildKit's, run by its own runc executor; `/build`, BuildKit's `/session` and `/grpc`),
 * `swarm` (service tasks, started by the swarm executor whenever it schedules them:
 * `/swarm/init|join`, `/services/create`, `/services/{id}/update`), `plugins` (a plugin's
 * process, privileged: `/plugins/pull|create`, `/plugins/{name}/enable|upgrade|set`).
 * Two more are refused at a container's start, by what it is (start-policy.ts): `runtime` (a
 * runtime other than contid's while dockerd's default is contid's) and `audit-control`
 * (privileged, or CAP_AUDIT_CONTROL added: root in it may rewrite its loginuid).
 */
export const UNATTRIBUTED = ['build', 'swarm', 'plugins', 'runtime', 'audit-control'] as const;
export type Unattributed = (typeof UNATTRIBUTED)[number];

/**
 * The calls after which dockerd's own runs of a container (healthcheck probes, restart-policy
 * and daemon-restart runs, made for whoever last started it) may execute what someone else
 * decided, so the front notes who made them (RequesterStore.noteChange):
 *  - `cp`: `PUT /containers/{ref}/archive` writes files into its filesystem (`docker cp`).
 *  - `update`: `POST /containers/{ref}/update` sets its restart policy (whether dockerd runs it
 *    again at all) and its resources.
 *  - `attach`: `POST /containers/{ref}/attach` with `stdin` set as dockerd reads it, and every
 *    `GET …/attach/ws` (attachesStdin): the client types into its main process (a shell there
 *    writes files like any exec). Without stdin an attach only reads.
 *  - `exec` (not routed here: the shim notes it, where it knows the exec's container and its own
 *    requester without asking dockerd): an exec's processes may write anything in the container.
 *  - `start`: a start dockerd refused or found nothing to do for (304) by another user leaves
 *    the earlier note, and what that user did meanwhile is not sure to be noted (RecentNotes).
 * Left out, because they do not change what the container's processes execute: rename (its name
 * only; dockerd's runs name it by id — routed as `container-rename`, judged, not noted), kill, stop (routed as
 * `container-end`: judged for a container dockerd removes when it ends, not noted), pause, unpause, resize, wait (a kill may make
 * dockerd restart it, but it runs what its starter set up), commit and export, archive GET and
 * HEAD (routed as `container-read`: judged, not noted), logs, stats, top, changes, inspect (they read it), network connect/disconnect (its network,
 * not its processes — routed as `network-attach`, judged, not noted), remove (the note goes with it). A volume shared with another container is
 * written through that container's own calls, which the front cannot tie to this one (docs/docker.md).
 */
export const CHANGES = ['cp', 'update', 'attach', 'exec', 'start'] as const;
export type Change = (typeof CHANGES)[number];

/** dockerd's own version prefix: `/v{version:[0-9.]+}` (so /v1.41.0/ is routed too). */
const VERSION = /^\/v[0-9.]+(?=\/)/;

/** Why the front will not relay this request target (null: an origin-form path it can classify). */
export function targetProblem(url: string): string | null {
  if (!url.startsWith('/')) return 'the request target must be a path (origin-form), not an absolute URL or *';
  const path = decodedPath(url);
  if (path === null) return 'the request path has a malformed %-escape';
  if (!refIsOneSegment(path.split('/').slice(1))) return 'a container or exec reference must be one path segment (a name holding a slash, such as a legacy link\'s /HOLDER/ALIAS, is not relayed): name the container by its own name or id';
  return null;
}

/**
 * dockerd routes every container and exec call as `/containers/{name:.*}/ACTION` and
 * `/exec/{name:.*}/ACTION`: the reference may hold slashes, and `--link C:alias` gives any
 * container C the name `/HOLDER/alias`. Split on `/`, such a path is no start, exec or change
 * the front knows, so it would pass unjudged and unnoted (outside attack 10, D1). No client
 * needs it — every container has a name and an id of one segment — so only paths whose
 * reference is one non-empty segment, followed by dockerd's one action segment (or `attach/ws`),
 * are relayed; the rest of the API (images, plugins: names with slashes) is untouched.
 */
function refIsOneSegment(parts: string[]): boolean {
  if (parts[0] !== 'containers' && parts[0] !== 'exec') return true;
  if (parts.some((p) => p === '')) return false;
  if (parts.length <= 3) return true;
  return parts.length === 4 && parts[0] === 'containers' && parts[2] === 'attach' && parts[3] === 'ws';
}

/** The path as dockerd routes on it: before `?`, percent-decoded (`%2F` is a slash), version prefix removed. */
function decodedPath(url: string): string | null {
  const path = decodedWhole(url);
  return path === null ? null : path.replace(VERSION, '');
}

function decodedWhole(url: string): string | null {
  const q = url.indexOf('?');
  try {
    return decodeURIComponent(q < 0 ? url : url.slice(0, q));
  } catch {
    return null;
  }
}

/**
 * A container call's target (a start or a change, see routeOf) naming the container by its full
 * id `id` instead of the ref it came with, version prefix and query kept. dockerd looks a ref up
 * as a full id first, so this target acts on that container and no other, whatever is renamed
 * meanwhile.
 */
export function containerTargetFor(url: string, id: string): string {
  const whole = decodedWhole(url);
  const parts = whole?.replace(VERSION, '').split('/').slice(1);
  if (whole === null || !parts || parts[0] !== 'containers' || parts.length < 2 || !isFullId(id)) throw new Error(`not a call on one container: ${JSON.stringify(url)}`);
  const q = url.indexOf('?');
  // `/containers/{ref}` alone is a removal (DELETE).
  const rest = parts.slice(2).map((p) => `/${p}`).join('');
  return `${VERSION.exec(whole)?.[0] ?? ''}/containers/${id}${rest}${q < 0 ? '' : url.slice(q)}`;
}

/** A network call's target naming the network by its full id `id`, version prefix and query kept (as containerTargetFor). */
export function networkTargetFor(url: string, id: string): string {
  const whole = decodedWhole(url);
  if (whole === null || !whole.replace(VERSION, '').startsWith('/networks/') || !isFullId(id)) throw new Error(`not a call on one network: ${JSON.stringify(url)}`);
  const q = url.indexOf('?');
  return `${VERSION.exec(whole)?.[0] ?? ''}/networks/${id}${q < 0 ? '' : url.slice(q)}`;
}

export function routeOf(method: string, url: string): ApiRoute | null {
  if (!url.startsWith('/')) return null;
  const path = decodedPath(url);
  if (path === null) return null;
  const parts = path.split('/').slice(1);
  if (parts.some((p) => p === '')) return null;
  const change = changeOf(method, parts, url);
  if (change) return { kind: 'container-change', ref: parts[1]!, what: change };
  if (method === 'POST') {
    if (parts.length === 2 && parts[0] === 'containers' && parts[1] === 'create') return { kind: 'container-create' };
    if (parts.length === 3 && parts[0] === 'containers') {
      const ref = parts[1]!;
      if (parts[2] === 'start' || parts[2] === 'restart') return { kind: 'container-start', ref };
      if (parts[2] === 'exec') return { kind: 'exec-create', ref };
      if (parts[2] === 'kill' || parts[2] === 'stop') return { kind: 'container-end', ref };
    }
    if (parts.length === 3 && parts[0] === 'exec' && parts[2] === 'start') return { kind: 'exec-start', id: parts[1]! };
    if (parts.length === 2 && parts[0] === 'volumes' && parts[1] === 'create') return { kind: 'volume-create' };
    if (parts.length === 2 && parts[0] === 'volumes' && parts[1] === 'prune') return { kind: 'volume-prune' };
    if (parts.length === 2 && parts[0] === 'networks' && parts[1] === 'create') return { kind: 'network-create' };
    if (parts.length === 2 && parts[0] === 'networks' && parts[1] === 'prune') return { kind: 'network-prune' };
    // A network's name or id may be matched with slashes (dockerd routes /networks/{id:.*}/connect).
    if (parts.length >= 3 && parts[0] === 'networks' && (parts.at(-1) === 'connect' || parts.at(-1) === 'disconnect')) return { kind: 'network-attach' };
    if (parts.length === 3 && parts[0] === 'containers' && parts[2] === 'rename') return { kind: 'container-rename', ref: parts[1]! };
    if (parts.length === 2 && parts[0] === 'containers' && parts[1] === 'prune') return { kind: 'container-prune' };
    if (parts.length === 2 && parts[0] === 'images' && parts[1] === 'prune') return { kind: 'image-remove' };
    const tagging = imageTagOf(parts, url);
    if (tagging) return tagging;
    const what = unattributed(parts);
    if (what) return { kind: 'unattributed', what };
  }
  if (method === 'DELETE' && parts.length === 2 && parts[0] === 'containers') return { kind: 'container-remove', ref: parts[1]! };
  // dockerd routes DELETE /volumes/{name:.*}: a name holding a slash names no volume, but is passed on whole.
  if (method === 'DELETE' && parts.length >= 2 && parts[0] === 'volumes') return { kind: 'volume-remove', name: parts.slice(1).join('/') };
  // dockerd routes DELETE /networks/{id:.*}: a ref holding a slash is looked up whole.
  if (method === 'DELETE' && parts.length >= 2 && parts[0] === 'networks') return { kind: 'network-remove', ref: parts.slice(1).join('/') };
  // An image name may hold slashes (dockerd routes DELETE /images/{name:.*}).
  if (method === 'DELETE' && parts.length >= 2 && parts[0] === 'images') return { kind: 'image-remove' };
  if ((method === 'GET' || method === 'HEAD') && parts.length === 3 && parts[0] === 'containers' && parts[2] === 'archive') return { kind: 'container-read', ref: parts[1]! };
  if (method === 'POST' && parts.length === 3 && parts[0] === 'containers' && parts[2] === 'copy') return { kind: 'container-read', ref: parts[1]! };
  return null;
}

/**
 * The image-tag call a POST is (see ApiRoute), reading `repo` and `tag` as dockerd 20.10 does
 * (r.Form.Get: the first value; an import is a create whose fromImage is empty). An image name
 * may hold slashes (`/images/{name:.*}/tag`).
 */
function imageTagOf(parts: string[], url: string): ApiRoute | null {
  const q = url.indexOf('?');
  const form = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const named = (): string | null => {
    const repo = form.get('repo') ?? '';
    const tag = form.get('tag') ?? '';
    return repo === '' ? null : tag === '' ? repo : `${repo}:${tag}`;
  };
  if (parts.length === 1 && parts[0] === 'commit') return { kind: 'image-tag', what: 'commit', tag: named() };
  if (parts.length >= 3 && parts[0] === 'images' && parts.at(-1) === 'tag') return { kind: 'image-tag', what: 'tag', tag: named() };
  if (parts.length === 2 && parts[0] === 'images' && parts[1] === 'create' && (form.get('fromImage') ?? '') === '') return { kind: 'image-tag', what: 'import', tag: named() };
  if (parts.length === 2 && parts[0] === 'images' && parts[1] === 'load') return { kind: 'image-tag', what: 'load', tag: null };
  return null;
}

function changeOf(method: string, parts: string[], url: string): Change | null {
  if (parts[0] !== 'containers' || parts.length < 3) return null;
  const action = parts.slice(2).join('/');
  if (method === 'PUT' && action === 'archive') return 'cp';
  if (method === 'POST' && action === 'update') return 'update';
  if (((method === 'POST' && action === 'attach') || (method === 'GET' && action === 'attach/ws')) && attachesStdin(method, url)) return 'attach';
  return null;
}

/**
 * Whether dockerd 20.10's attach reads the client's stdin. `POST …/attach`: httputils.BoolValue
 * (`stdin`), which takes r.FormValue — the FIRST value — trims Go's spaces, lower-cases it and
 * counts anything but "", 0, no, false and none as true (`stdin=yes`, `stdin=1&stdin=0`). Only
 * those five words in ASCII are taken for false here: anything else is noted, the safe side. A
 * form body would come ahead of the query: refused (requestBodyProblem). `GET …/attach/ws`:
 * dockerd 20.10 attaches stdin whatever the query says.
 */
function attachesStdin(method: string, url: string): boolean {
  if (method === 'GET') return true;
  const q = url.indexOf('?');
  const first = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1)).get('stdin');
  return !GO_FALSE.test((first ?? '').replace(GO_SPACE_ENDS, ''));
}

/** strings.TrimSpace: unicode.IsSpace at either end (JS's \s also takes U+FEFF, which Go keeps). */
const GO_SPACE_ENDS = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
/** BoolValue's false words, any letter case (ASCII only). */
const GO_FALSE = /^(?:|0|no|false|none)$/i;

/**
 * Why the front will not relay this request's body (null: it may). An attach's body: dockerd's
 * r.FormValue reads a form body (url-encoded or multipart) ahead of the query, so its `stdin`
 * would be one the front never saw; no Docker client sends one.
 */
export function requestBodyProblem(method: string, url: string, body: BodyKind): string | null {
  if (body.kind === 'none' || method !== 'POST') return null;
  const path = decodedPath(url);
  const parts = path?.split('/').slice(1);
  if (parts?.length === 3 && parts[0] === 'containers' && parts[2] === 'attach') return 'an attach with a request body is not relayed: dockerd would read its stdin choice from the body, unseen by the front';
  return null;
}

/**
 * Why the front will not relay a request of a caller other than host root with this head (null:
 * it may): a form body (outside attack 13, F2). dockerd reads most calls' parameters with Go's
 * r.ParseForm / r.FormValue, which read a POST, PUT or PATCH body of Content-Type
 * application/x-www-form-urlencoded (mime.ParseMediaType: any letter case, any parameters; even
 * with malformed parameters the type is taken) and put its values AHEAD of the query's, and
 * r.FormValue also reads a multipart/form-data body for the keys the query lacks. The front reads
 * the query only, so `POST /images/create?fromImage=DECOY` with the body `fromImage=&fromSrc=…&
 * repo=ROOTS` was an import onto root's tag judged as a pull. No Docker client sends a form body
 * (JSON, a tar, or none: the Go client's empty POST says text/plain), so any request with a body
 * whose Content-Type names a form is refused, whatever its method (over-matching is the safe side).
 */
export function formBodyProblem(head: Head, body: BodyKind): string | null {
  if (body.kind === 'none' || (body.kind === 'length' && body.length === 0)) return null;
  // Repeated Content-Type headers are joined here; Go takes the first: any of them naming a form is refused.
  if (!/form/i.test(head.headers.get('content-type') ?? '')) return null;
  return 'a request with a form body is not relayed for users other than root: dockerd would read the call\'s parameters from it ahead of the query, unseen by the front; send JSON, a tar, or no body';
}

function unattributed(parts: string[]): Unattributed | null {
  const [first, second] = parts;
  if (parts.length === 1 && (first === 'build' || first === 'session' || first === 'grpc')) return 'build';
  if (parts.length === 2 && first === 'swarm' && (second === 'init' || second === 'join')) return 'swarm';
  if (first === 'services' && ((parts.length === 2 && second === 'create') || (parts.length === 3 && parts[2] === 'update'))) return 'swarm';
  // A plugin's name may hold slashes (dockerd routes /plugins/{name:.*}/enable).
  if (first === 'plugins' && ((parts.length === 2 && (second === 'pull' || second === 'create')) || (parts.length >= 3 && ['enable', 'upgrade', 'set'].includes(parts.at(-1)!)))) return 'plugins';
  return null;
}

/**
 * The calls dockerd answers by taking over the connection (attach, its websocket, exec start,
 * BuildKit's session and gRPC): the only ones an `Upgrade` request may be relayed for. Anywhere
 * else the front would be relaying raw bytes dockerd still reads as requests, unnoted.
 */
export function mayHijack(method: string, url: string): boolean {
  const path = url.startsWith('/') ? decodedPath(url) : null;
  if (path === null) return false;
  const parts = path.split('/').slice(1);
  if (method === 'POST' && parts.length === 1) return parts[0] === 'session' || parts[0] === 'grpc';
  if (parts.length === 3 && parts[0] === 'containers' && parts[1] !== '') return method === 'POST' && parts[2] === 'attach';
  if (parts.length === 4 && parts[0] === 'containers' && parts[1] !== '') return method === 'GET' && parts[2] === 'attach' && parts[3] === 'ws';
  return method === 'POST' && parts.length === 3 && parts[0] === 'exec' && parts[1] !== '' && parts[2] === 'start';
}

/** A full 64-hex object id (what runc and containerd see), as opposed to a name or a prefix. */
export const isFullId = (ref: string): boolean => /^[0-9a-f]{64}$/.test(ref);
