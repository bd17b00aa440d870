import fc from 'fast-check';
import { parseChanges } from '@contid/oci';
import { BodyKind, Head, containerTargetFor, formBodyProblem, formatChange, networkTargetFor, formatRequester, mayHijack, parseRequester, requestBodyProblem, routeOf, targetProblem } from '@contid/docker';

const ID = 'a'.repeat(64);

describe('the API calls the front notes a requester for', () => {
  test.each([
    ['POST', '/v1.41/containers/create?name=web', { kind: 'container-create' }],
    ['POST', '/containers/create', { kind: 'container-create' }],
    ['POST', `/v1.41/containers/${ID}/start`, { kind: 'container-start', ref: ID }],
    ['POST', '/v1.41/containers/web/restart?t=1', { kind: 'container-start', ref: 'web' }],
    ['POST', '/v1.24/containers/my%2Dname/start', { kind: 'container-start', ref: 'my-name' }],
    ['POST', '/v1.41/containers/web/exec', { kind: 'exec-create', ref: 'web' }],
    ['POST', `/v1.41/exec/${ID}/start`, { kind: 'exec-start', id: ID }],
    ['DELETE', `/v1.41/containers/${ID}?force=1`, { kind: 'container-remove', ref: ID }],
    ['GET', '/v1.41/containers/create', null],
    // What ends a container: dockerd removes an AutoRemove one, freeing its name (outside attack 13, F3).
    ['POST', '/v1.41/containers/web/stop', { kind: 'container-end', ref: 'web' }],
    ['POST', '/v1.41/containers/web/kill?signal=HUP', { kind: 'container-end', ref: 'web' }],
    ['POST', `/containers/${ID}/kill`, { kind: 'container-end', ref: ID }],
    ['POST', '/v1.41/containers/web/pause', null],
    ['POST', '/v1.41/containers/web/wait?condition=removed', null],
    // Removing a network frees its name (outside attack 13, F4).
    ['DELETE', '/v1.41/networks/rootnet', { kind: 'network-remove', ref: 'rootnet' }],
    ['DELETE', `/networks/${ID}`, { kind: 'network-remove', ref: ID }],
    ['DELETE', '/v1.41/networks/a/b', { kind: 'network-remove', ref: 'a/b' }],
    ['POST', '/v1.41/networks/prune', { kind: 'network-prune' }],
    ['GET', '/v1.41/networks/rootnet', null],
    ['POST', '/v1.41/containers/a%2Fb/start', null], // a decoded slash is no container name
    ['POST', '/v1.41/containers/%E0%A4%A/start', null], // bad escape
    ['POST', '/v1.41/exec/x/resize', null],
    ['HEAD', '/_ping', null],
    // dockerd routes these as starts (outside attack 4): the front must too.
    ['POST', '/v1.41.0/containers/web/start', { kind: 'container-start', ref: 'web' }],
    ['POST', '/v1.41/containers%2Fweb%2Fstart', { kind: 'container-start', ref: 'web' }],
    ['POST', '/v1.41/%63ontainers/web/st%61rt', { kind: 'container-start', ref: 'web' }],
    ['POST', 'http://d/v1.41/containers/web/start', null],
    // dockerd runs these processes itself (outside attack 5): refused for users but root unless allowed.
    ['POST', '/v1.41/build?t=x', { kind: 'unattributed', what: 'build' }],
    ['POST', '/v1.41/session', { kind: 'unattributed', what: 'build' }],
    ['POST', '/grpc', { kind: 'unattributed', what: 'build' }],
    ['POST', '/v1.41/build/prune', null],
    ['POST', '/v1.41/build/cancel?id=x', null],
    ['POST', '/v1.41/swarm/init', { kind: 'unattributed', what: 'swarm' }],
    ['POST', '/v1.41/swarm/join', { kind: 'unattributed', what: 'swarm' }],
    ['POST', '/v1.41/swarm/leave?force=1', null],
    ['POST', '/v1.41/services/create', { kind: 'unattributed', what: 'swarm' }],
    ['POST', '/v1.41/services/abc/update?version=3', { kind: 'unattributed', what: 'swarm' }],
    ['DELETE', '/v1.41/services/abc', null],
    ['GET', '/v1.41/services', null],
    ['POST', '/v1.41/plugins/pull?remote=vieux/sshfs', { kind: 'unattributed', what: 'plugins' }],
    ['POST', '/v1.41/plugins/create?name=p', { kind: 'unattributed', what: 'plugins' }],
    ['POST', '/v1.41/plugins/vieux/sshfs:latest/enable', { kind: 'unattributed', what: 'plugins' }],
    ['POST', '/v1.41/plugins/p/set', { kind: 'unattributed', what: 'plugins' }],
    ['POST', '/v1.41/plugins/p/upgrade?remote=x', { kind: 'unattributed', what: 'plugins' }],
    ['POST', '/v1.41/plugins/p/disable', null],
    // Calls that change what dockerd's own later runs of the container execute.
    ['PUT', '/v1.41/containers/web/archive?path=%2Ftmp', { kind: 'container-change', ref: 'web', what: 'cp' }],
    ['PUT', `/containers/${ID}/archive?path=/`, { kind: 'container-change', ref: ID, what: 'cp' }],
    ['GET', '/v1.41/containers/web/archive?path=/', { kind: 'container-read', ref: 'web' }],
    ['HEAD', '/v1.41/containers/web/archive?path=/', { kind: 'container-read', ref: 'web' }],
    // The legacy cp out (API < 1.20), which dockerd 20.10 still serves (outside attack 11, C3).
    ['POST', '/v1.19/containers/web/copy', { kind: 'container-read', ref: 'web' }],
    ['POST', `/containers/${ID}/copy`, { kind: 'container-read', ref: ID }],
    // What points an image tag (outside attack 11, I1): repo and tag as dockerd reads them.
    ['POST', '/v1.41/commit?container=web&repo=local%2Fagent&tag=1', { kind: 'image-tag', what: 'commit', tag: 'local/agent:1' }],
    ['POST', '/v1.41/commit?container=web', { kind: 'image-tag', what: 'commit', tag: null }],
    ['POST', '/v1.41/images/local/x/tag?repo=local/agent&tag=1&repo=other', { kind: 'image-tag', what: 'tag', tag: 'local/agent:1' }],
    ['POST', '/v1.41/images/create?fromSrc=-&repo=local/agent:1', { kind: 'image-tag', what: 'import', tag: 'local/agent:1' }],
    ['POST', '/v1.41/images/create?fromImage=&fromSrc=-&repo=a', { kind: 'image-tag', what: 'import', tag: 'a' }],
    ['POST', '/v1.41/images/load?quiet=1', { kind: 'image-tag', what: 'load', tag: null }],
    ['GET', '/v1.41/containers/web/export', null],
    ['POST', '/v1.41/containers/web/update', { kind: 'container-change', ref: 'web', what: 'update' }],
    ['POST', '/v1.41/containers/web/attach?stream=1&stdin=1&stdout=1', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stdin=true', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stream=1&stdout=1&stderr=1', null], // reads only
    // dockerd's httputils.BoolValue: the FIRST value, space-trimmed and lower-cased, is false only
    // as "", 0, no, false or none (outside attack 8 F2: the front took the last, and only Go's bools).
    ['POST', '/v1.41/containers/web/attach?stdin=1&stdin=0', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stdin=0&stdin=1', null],
    ['POST', '/v1.41/containers/web/attach?stdin=yes', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stdin=off', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stdin=2', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?st%64in=y', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stdin=%EF%BB%BF0', { kind: 'container-change', ref: 'web', what: 'attach' }], // U+FEFF is no space to Go
    ['POST', '/v1.41/containers/web/attach?stdin=%E2%84%AA', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/attach?stdin=', null],
    ['POST', '/v1.41/containers/web/attach?stdin', null],
    ['POST', '/v1.41/containers/web/attach?stdin=FALSE', null],
    ['POST', '/v1.41/containers/web/attach?stdin=No', null],
    ['POST', '/v1.41/containers/web/attach?stdin=NONE', null],
    ['POST', '/v1.41/containers/web/attach?stdin=%20false%09', null],
    ['POST', '/v1.41/containers/web/attach?stdin=+0+', null],
    ['POST', '/v1.41/containers/web/attach?stdin=%C2%A0no%E3%80%80', null], // U+00A0, U+3000: spaces to Go
    ['POST', '/v1.41/containers/web/attach?stdout=1&stdin=0&stdin=yes', null],
    // dockerd 20.10's websocket attach always attaches stdin, whatever the query says.
    ['GET', '/v1.41/containers/web/attach/ws?stdin=1&stream=1', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['GET', '/v1.41/containers/web/attach/ws?stream=1', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['GET', '/v1.41/containers/web/attach/ws?stdin=0', { kind: 'container-change', ref: 'web', what: 'attach' }],
    ['POST', '/v1.41/containers/web/rename?name=x', { kind: 'container-rename', ref: 'web' }],
    ['POST', '/v1.41/containers/prune', { kind: 'container-prune' }],
    ['POST', '/v1.41/volumes/prune', { kind: 'volume-prune' }],
    ['DELETE', '/v1.41/volumes/db-data?force=1', { kind: 'volume-remove', name: 'db-data' }],
    ['DELETE', '/volumes/a%2Fb', { kind: 'volume-remove', name: 'a/b' }],
    ['DELETE', '/v1.41/containers/web?force=1', { kind: 'container-remove', ref: 'web' }],
    ['POST', '/v1.41/networks/create', { kind: 'network-create' }],
    ['POST', '/v1.41/networks/net/connect', { kind: 'network-attach' }],
    ['POST', '/v1.41/networks/a/b/disconnect', { kind: 'network-attach' }],
    ['GET', '/v1.41/networks/net', null],
    ['DELETE', '/v1.41/networks/net', { kind: 'network-remove', ref: 'net' }],
    ['DELETE', '/v1.41/images/local/agent:1?force=1', { kind: 'image-remove' }],
    ['DELETE', '/v1.41/images/sha256:0123', { kind: 'image-remove' }],
    ['POST', '/v1.41/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D', { kind: 'image-remove' }],
    ['POST', '/v1.41/containers/web/kill', { kind: 'container-end', ref: 'web' }],
  ])('%s %s', (method, url, route) => {
    expect(routeOf(method, url)).toEqual(route);
  });

  test('never throws on any method and path', () => {
    fc.assert(fc.property(fc.constantFrom('GET', 'POST', 'DELETE', 'PUT'), fc.string(), (m, u) => void routeOf(m, u)));
  });
});

describe('a start or a change relayed naming the full id the front resolved its ref to', () => {
  test.each([
    ['/v1.41/containers/web/start', `/v1.41/containers/${ID}/start`],
    ['/containers/web/restart?t=1', `/containers/${ID}/restart?t=1`],
    ['/v1.41.0/containers/web/start?detachKeys=ctrl-x', `/v1.41.0/containers/${ID}/start?detachKeys=ctrl-x`],
    ['/v1.41/containers%2Fweb%2Fstart', `/v1.41/containers/${ID}/start`],
    [`/v1.41/containers/${'b'.repeat(64)}/start`, `/v1.41/containers/${ID}/start`],
  ])('%s', (url, target) => {
    expect(containerTargetFor(url, ID)).toBe(target);
    expect(routeOf('POST', target)).toEqual({ kind: 'container-start', ref: ID });
  });

  test.each([
    ['PUT', '/v1.41/containers/web/archive?path=%2Ftmp', `/v1.41/containers/${ID}/archive?path=%2Ftmp`, 'cp'],
    ['POST', '/containers/web/update', `/containers/${ID}/update`, 'update'],
    ['GET', '/v1.41/containers/web/attach/ws?stdin=1', `/v1.41/containers/${ID}/attach/ws?stdin=1`, 'attach'],
  ])('%s %s', (method, url, target, what) => {
    expect(containerTargetFor(url, ID)).toBe(target);
    expect(routeOf(method, target)).toEqual({ kind: 'container-change', ref: ID, what });
  });

  test('a removal (DELETE /containers/{ref}, outside attack 15 F3) names the full id too, its query kept', () => {
    expect(containerTargetFor('/v1.41/containers/web?force=1&v=1', ID)).toBe(`/v1.41/containers/${ID}?force=1&v=1`);
    expect(routeOf('DELETE', `/v1.41/containers/${ID}?force=1&v=1`)).toEqual({ kind: 'container-remove', ref: ID });
  });

  test('anything but a call on one container, or an id that is not whole, is a bug, not a target', () => {
    expect(() => containerTargetFor('/v1.41/containers', ID)).toThrow();
    expect(() => containerTargetFor('/v1.41/exec/x/start', ID)).toThrow();
    expect(() => containerTargetFor('/v1.41/containers/web/start', 'abc')).toThrow();
  });
});

describe('request targets the front refuses, and where Upgrade may be relayed', () => {
  test.each([
    ['/v1.41/containers/web/start', null],
    ['http://d/v1.41/containers/web/start', expect.stringContaining('origin-form')],
    ['*', expect.stringContaining('origin-form')],
    ['/v1.41/containers/%zz/start', expect.stringContaining('%-escape')],
    // A reference holding a slash (a legacy link's /HOLDER/ALIAS, dockerd's {name:.*}): outside attack 10, D1.
    ['/v1.23/containers/holder/x/start', expect.stringContaining('one path segment')],
    ['/v1.41/containers/holder/x/exec', expect.stringContaining('one path segment')],
    ['/v1.41/containers/holder/x/restart?t=1', expect.stringContaining('one path segment')],
    ['/containers/holder%2Fx/start', expect.stringContaining('one path segment')],
    ['/v1.41/containers/holder/x/archive?path=/', expect.stringContaining('one path segment')],
    ['/v1.41/containers/holder/x/attach/ws', expect.stringContaining('one path segment')],
    ['/v1.41/containers/holder/x/update', expect.stringContaining('one path segment')],
    // Three parts read as REF/ACTION, as dockerd's action routes read them (a DELETE of `holder/x` is dockerd's
    // remove of the linked container: nothing the front judges or notes — its note is kept by full id only).
    ['/v1.41/containers/holder/x', null],
    ['/v1.41/containers//x/start', expect.stringContaining('one path segment')],
    ['/v1.41/containers/x//start', expect.stringContaining('one path segment')],
    ['/v1.41/exec/a/b/start', expect.stringContaining('one path segment')],
    ['/v1.41/containers/web/attach/ws?stream=1', null],
    ['/v1.41/containers/web/json', null],
    ['/v1.41/containers/web', null],
    ['/v1.41/containers/json?all=1', null],
    ['/v1.41/exec/abc/json', null],
    ['/v1.41/images/library/busybox/json', null],
    ['/v1.41/plugins/vieux/sshfs/enable', null],
  ])('%s', (url, problem) => {
    expect(targetProblem(url)).toEqual(problem);
  });

  // Outside attack 13, F2: Go's ParseForm reads a url-encoded body (any letter case, any
  // parameters) ahead of the query; r.FormValue reads a multipart one for the keys it lacks.
  const head = (contentType: string | null, method = 'POST'): Head => ({ method, url: '/v1.41/images/create?fromImage=x', status: 0, version: '1.1', headers: new Map(contentType === null ? [] : [['content-type', contentType]]) });
  test.each<[string | null, string, BodyKind, boolean]>([
    ['application/x-www-form-urlencoded', 'POST', { kind: 'length', length: 9 }, true],
    ['Application/X-WWW-Form-Urlencoded ; charset=utf-8', 'POST', { kind: 'chunked' }, true],
    ['application/x-www-form-urlencoded; =bad', 'PUT', { kind: 'length', length: 1 }, true],
    ['multipart/form-data; boundary=x', 'POST', { kind: 'length', length: 9 }, true],
    ['application/json, application/x-www-form-urlencoded', 'PATCH', { kind: 'length', length: 9 }, true],
    ['application/x-www-form-urlencoded', 'GET', { kind: 'length', length: 9 }, true],
    ['application/x-www-form-urlencoded', 'POST', { kind: 'none' }, false],
    ['application/json', 'POST', { kind: 'length', length: 9 }, false],
    ['application/x-tar', 'POST', { kind: 'chunked' }, false],
    ['text/plain', 'POST', { kind: 'length', length: 9 }, false],
    [null, 'POST', { kind: 'length', length: 9 }, false],
  ])('Content-Type %j, %s with a body %j: a form body, refused: %s', (type, method, body, refused) => {
    expect(formBodyProblem(head(type, method), body)).toEqual(refused ? expect.stringMatching(/^a request with a form body[^\n]*$/) : null);
  });

  test('a network call retargeted by full id keeps its version prefix and query', () => {
    expect(networkTargetFor('/v1.41/networks/rootnet?force=1', ID)).toBe(`/v1.41/networks/${ID}?force=1`);
    expect(networkTargetFor('/networks/a%2Fb', ID)).toBe(`/networks/${ID}`);
    expect(() => networkTargetFor('/v1.41/containers/x', ID)).toThrow();
    expect(() => networkTargetFor('/v1.41/networks/x', 'x')).toThrow();
  });

  // A form body feeds dockerd's r.FormValue ahead of the query (url-encoded or multipart).
  test.each<[string, string, BodyKind, boolean]>([
    ['POST', '/v1.41/containers/web/attach?stream=1&stdout=1', { kind: 'length', length: 7 }, true],
    ['POST', '/v1.41/containers/web/attach?stdin=0', { kind: 'chunked' }, true],
    ['POST', '/containers/web/attach', { kind: 'length', length: 1 }, true],
    ['POST', '/v1.41/containers/web/attach?stream=1&stdin=1', { kind: 'none' }, false],
    ['GET', '/v1.41/containers/web/attach/ws', { kind: 'length', length: 7 }, false],
    ['POST', '/v1.41/containers/create', { kind: 'length', length: 7 }, false],
    ['POST', '/v1.41/containers/web/wait', { kind: 'chunked' }, false],
  ])('%s %s with a body %j is refused: %s', (method, url, body, refused) => {
    expect(requestBodyProblem(method, url, body)).toEqual(refused ? expect.stringMatching(/^an attach with a request body[^\n]*$/) : null);
  });

  test.each([
    ['POST', '/v1.41/containers/web/attach?stream=1', true],
    ['GET', '/v1.41/containers/web/attach/ws', true],
    ['POST', `/v1.41/exec/${ID}/start`, true],
    ['POST', '/session', true],
    ['POST', '/grpc', true],
    ['GET', '/_ping', false],
    ['POST', '/v1.41/containers/create', false],
    ['POST', '/v1.41/containers/web/start', false],
    ['POST', 'http://d/v1.41/exec/x/start', false],
  ])('%s %s hijacks: %s', (method, url, yes) => {
    expect(mayHijack(method, url)).toBe(yes);
  });
});

describe('the requester hand-off file', () => {
  test('round-trips; an exe with a newline cannot add a field', () => {
    const r = { uid: 1001, auid: 1001, session: 3790, pid: 42, exe: '/tmp/x\nauid=0' };
    const text = formatRequester(r);
    expect(text.split('\n')).toHaveLength(6);
    expect(parseRequester(text)).toEqual({ ...r, exe: '/tmp/x\\x0aauid=0' });
    expect(parseRequester('uid=1\nauid=x\nsession=1\npid=1\n')).toBeNull();
  });

  test('a change line is one line whose exe is one word; the shim hands the lines on space-joined and the spool reads them back', () => {
    const mallory = { uid: 1002, auid: 1002, session: 7, pid: 9, exe: '/opt/do cker,x\n' };
    const line = formatChange('cp', mallory);
    expect(line).toBe('changed=cp,1002,1002,7,9,/opt/do\\x20cker,x\\x0a\n');
    // A note with changes still names its starter.
    expect(parseRequester(formatRequester({ ...mallory, uid: 1001, auid: 1001 }) + line)).toMatchObject({ uid: 1001, auid: 1001 });
    const joined = [line, formatChange('exec', { ...mallory, uid: 0 })].map((l) => l.slice('changed='.length, -1)).join(' ');
    expect(parseChanges(joined)).toEqual([
      { what: 'cp', uid: 1002, auid: 1002, session: 7, pid: 9, exe: '/opt/do\\x20cker,x\\x0a' },
      { what: 'exec', uid: 0, auid: 1002, session: 7, pid: 9, exe: '/opt/do\\x20cker,x\\x0a' },
    ]);
    expect(parseChanges('cp,x,1,1,1,/a  ,1 ')).toEqual([]);
  });
});
