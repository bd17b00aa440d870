import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseRequester } from '@contid/docker';
import { RunResult, contid, run, uniqueName } from '../helpers/cli';
import { waitFor } from '../helpers/wait';
import { FrontSuite } from '../docker/front-suite';
import { LoginUser, createLoginUser } from '../docker/login-user';

// Outside attack 4 on `contid docker front`, from the attacker's real position: mallory, a
// non-root login user in group docker, talking to the front of a real dockerd whose containers
// run on contid-runc. alice is another such user. Each attack tries to make a container run
// unnoted (auid 0), or as asked for by alice.
const suite = new FrontSuite('frontsec', { name: 'local/busybox-frontsec:1', links: Object.fromEntries(['cat', 'sleep'].map((a) => [`bin/${a}`, 'busybox'])) });
const { engine, front, frontSock, upstream, requesters, stateDir } = suite;
let mallory: LoginUser;
let alice: LoginUser;

/** A raw API client as USER: each step's bytes are written, then it waits; prints what came back. */
const RAW_CLIENT = `
const s = require('net').connect(process.argv[1]);
let out = '';
s.on('data', (d) => (out += d));
s.on('error', () => {});
s.on('close', () => { process.stdout.write(out); process.exit(0); });
const steps = JSON.parse(process.argv[2]);
(async () => {
  for (const [bytes, wait] of steps) {
    if (!s.destroyed) s.write(bytes);
    await new Promise((r) => setTimeout(r, wait));
  }
  process.stdout.write(out);
  process.exit(0);
})();`;

function raw(user: LoginUser, steps: [string, number][]): RunResult {
  return user.run([process.execPath, '-e', RAW_CLIENT, frontSock, JSON.stringify(steps)]);
}

function request(method: string, target: string, body?: unknown, extra = ''): string {
  const b = body === undefined ? '' : JSON.stringify(body);
  return `${method} ${target} HTTP/1.1\r\nHost: docker\r\n${extra}${body === undefined ? '' : 'Content-Type: application/json\r\n'}Content-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
}

const UPGRADE = 'Upgrade: tcp\r\nConnection: Upgrade\r\n';
const createBody = (cmd: string[]) => ({ Image: engine.image, Cmd: cmd, HostConfig: { Runtime: 'contid' } });

const idOf = (name: string): string | null => {
  const r = engine.docker(['inspect', '-f', '{{.Id}}', name]);
  return r.status === 0 ? r.stdout.trim() : null;
};
const running = (name: string): boolean => engine.docker(['inspect', '-f', '{{.State.Running}}', name]).stdout.trim() === 'true';
const noteOf = (id: string) => {
  try {
    return parseRequester(readFileSync(join(requesters, `c-${id}`), 'utf8'));
  } catch {
    return null;
  }
};

/**
 * Who a container's run is attributed to: the uid of its note and its init's loginuid, or null
 * when it is not running (the attack was refused). An attack that got it running must show the
 * attacker in both.
 */
function attribution(name: string): { note: number | null; loginuid: number } | null {
  if (!running(name)) return null;
  const id = idOf(name)!;
  return { note: noteOf(id)?.uid ?? null, loginuid: Number(engine.docker(['exec', name, 'cat', '/proc/1/loginuid']).stdout) };
}

beforeAll(async () => {
  mallory = createLoginUser('contid-fs-mallory');
  alice = createLoginUser('contid-fs-alice');
  await suite.start();
}, 180_000);

afterAll(async () => {
  await suite.stop();
  mallory?.remove();
  alice?.remove();
}, 120_000);

describe('requests smuggled behind Connection: Upgrade', () => {
  test('after an Upgrade on a call dockerd does not take over (/_ping), a pipelined create and start do not run unnoted', () => {
    const name = uniqueName('smug');
    raw(mallory, [
      [request('GET', '/_ping', undefined, UPGRADE), 300],
      [request('POST', `/containers/create?name=${name}`, createBody(['sleep', '600'])), 1000],
      [request('POST', `/containers/${name}/start`), 2000],
    ]);
    expect(attribution(name)).toEqual(running(name) ? { note: mallory.uid, loginuid: mallory.uid } : null);
  });

  test('after an Upgrade exec start dockerd answers without taking over (Detach; an unknown exec), a pipelined create and start do not run unnoted', () => {
    const own = uniqueName('own');
    expect(suite.docker(mallory, ['run', '-d', '--runtime', 'contid', '--name', own, engine.image, 'sleep', '600']).status).toBe(0);
    const created = raw(mallory, [[request('POST', `/containers/${own}/exec`, { Cmd: ['sleep', '1'] }), 1500]]);
    const execId = /"Id":"([0-9a-f]{64})"/.exec(created.stdout)![1]!;
    for (const target of [`/exec/${execId}/start`, `/exec/${'0'.repeat(64)}/start`]) {
      const name = uniqueName('smug-x');
      raw(mallory, [
        [request('POST', target, { Detach: true, Tty: false }, UPGRADE), 500],
        [request('POST', `/containers/create?name=${name}`, createBody(['sleep', '600'])), 1000],
        [request('POST', `/containers/${name}/start`), 2000],
      ]);
      expect(attribution(name)).toEqual(running(name) ? { note: mallory.uid, loginuid: mallory.uid } : null);
    }
  });

  // Outside attack 13, F1: dockerd's Go server ignores Transfer-Encoding in an HTTP/1.0 request
  // and reads Content-Length (or no body): a chunk the front relayed as the body of an unjudged
  // /_ping was, to dockerd, the next requests on the connection.
  test.each([
    ['HTTP/1.0 with Transfer-Encoding and a Content-Length of the chunk-size line', '1.0', true],
    ['HTTP/1.0 with Transfer-Encoding alone', '1.0', false],
    ['HTTP/1.1 with both Transfer-Encoding and Content-Length', '1.1', true],
  ])('a create and start inside a chunked body (%s) do not run unnoted', (_what, version, withLength) => {
    const name = uniqueName('smug-te');
    const inner = request('POST', `/containers/create?name=${name}`, createBody(['sleep', '600'])) + request('POST', `/containers/${name}/start`);
    const size = `${Buffer.byteLength(inner).toString(16)}\r\n`;
    const head = `GET /_ping HTTP/${version}\r\nHost: docker\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n${withLength ? `Content-Length: ${size.length}\r\n` : ''}\r\n`;
    raw(mallory, [[`${head}${size}${inner}\r\n0\r\n\r\n`, 3000]]);
    expect(attribution(name)).toEqual(running(name) ? { note: mallory.uid, loginuid: mallory.uid } : null);
    expect(idOf(name)).toBeNull();
  });

  test('attach and exec through the front still work (the calls dockerd does take over)', () => {
    const name = uniqueName('attach');
    expect(suite.docker(mallory, ['run', '--rm', '--runtime', 'contid', '--name', name, engine.image, 'sh', '-c', 'echo attached'])).toMatchObject({ status: 0, stdout: 'attached\n' });
  });
});

describe('request targets the front cannot classify', () => {
  test.each([
    ['absolute form', (n: string) => `http://d/v1.41/containers/${n}/start`],
    ['a three-part version', (n: string) => `/v1.41.0/containers/${n}/start`],
    ['%-encoded slashes', (n: string) => `/v1.41/containers%2F${n}%2Fstart`],
  ])('a start in %s is refused or noted', (_kind, target) => {
    const name = uniqueName('tgt');
    expect(engine.docker(['create', '--runtime', 'contid', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    const r = raw(mallory, [[request('POST', target(name)), 2500]]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 (204|400)/);
    expect(attribution(name)).toEqual(r.stdout.startsWith('HTTP/1.1 204') ? { note: mallory.uid, loginuid: mallory.uid } : null);
    if (r.stdout.startsWith('HTTP/1.1 400')) expect(r.stdout).toContain('contid docker front: ');
  });
});

describe('a note says who asked for what dockerd did', () => {
  /** The create bindings of every run of NAME (each start is a container of its own), oldest first. */
  const bindingsOf = (name: string) =>
    suite.tagger.containers
      .list({ orchestrator: 'docker' })
      .filter((c) => c.name === name)
      .flatMap((c) => suite.tagger.containers.bindings(c.contid).filter((b) => b.op === 'create'))
      .sort((a, b) => a.at - b.at);
  const requesterOf = (b: { detail: Record<string, unknown> }) => (b.detail.requester ?? null) as { uid: number; auid: number; auidDiffers?: boolean } | null;

  test('a no-op start (304) of alice\'s running container by mallory leaves alice\'s note, with mallory\'s start as a change', () => {
    const name = uniqueName('noop');
    expect(suite.docker(alice, ['run', '-d', '--runtime', 'contid', '--name', name, engine.image, 'sleep', '600']).status).toBe(0);
    expect(suite.docker(mallory, ['start', name]).status).toBe(0);
    expect(noteOf(idOf(name)!)).toMatchObject({ uid: alice.uid, auid: alice.uid });
    expect(readFileSync(join(requesters, `c-${idOf(name)!}`), 'utf8')).toMatch(new RegExp(`^changed=start,${mallory.uid},${mallory.uid},`, 'm'));
    expect(suite.docker(mallory, ['start', 'no-such-container-xyz']).status).not.toBe(0);
  });

  test('a restart dockerd does on its own after mallory set the policy is nobody\'s alone (never alice\'s or mallory\'s auid; contested, naming both); alice\'s own starts keep hers', async () => {
    const name = uniqueName('policy');
    expect(suite.docker(alice, ['run', '-d', '--runtime', 'contid', '--name', name, engine.image, 'sh', '-c', 'echo auid=$(cat /proc/self/loginuid); sleep 3']).status).toBe(0);
    expect(suite.docker(mallory, ['update', '--restart', 'always', name]).status).toBe(0);
    await waitFor('a restart by dockerd', () => Number(engine.docker(['inspect', '-f', '{{.RestartCount}}', name]).stdout) >= 1 && engine.docker(['logs', name]).stdout.split('\n').filter(Boolean).length >= 2, 60_000);
    const [first, second] = engine.docker(['logs', name]).stdout.split('\n');
    expect(first).toBe(`auid=${alice.uid}`);
    expect(second).not.toBe(`auid=${alice.uid}`);
    expect(second).not.toBe(`auid=${mallory.uid}`);
    await waitFor('both creates bound', () => bindingsOf(name).length >= 2, 60_000);
    const [byAlice, byDockerd] = bindingsOf(name);
    expect(requesterOf(byAlice!)).toMatchObject({ uid: alice.uid, auid: alice.uid });
    expect(requesterOf(byAlice!)).not.toHaveProperty('byDockerd');
    expect(requesterOf(byDockerd!)).toBeNull();
    expect(byDockerd!.detail.contested).toMatchObject({ lastStarter: { uid: alice.uid, auid: alice.uid }, changedBy: [{ what: 'update', uid: mallory.uid }] });
    // alice stops and starts it herself: that start is hers again.
    expect(suite.docker(alice, ['update', '--restart', 'no', name]).status).toBe(0);
    expect(suite.docker(alice, ['stop', '-t', '1', name]).status).toBe(0);
    const before = bindingsOf(name).length;
    expect(suite.docker(alice, ['start', name]).status).toBe(0);
    await waitFor('her start bound', () => bindingsOf(name).length > before, 60_000);
    expect(requesterOf(bindingsOf(name).at(-1)!)).toMatchObject({ uid: alice.uid, auid: alice.uid });
    expect(requesterOf(bindingsOf(name).at(-1)!)).not.toHaveProperty('byDockerd');
    expect(engine.docker(['logs', name]).stdout.split('\n').filter(Boolean).at(-1)).toBe(`auid=${alice.uid}`);
  }, 120_000);

  test('mallory naming herself alice in her loginuid is recorded with both uids and flagged', async () => {
    const name = uniqueName('auid');
    const dockerGid = Number(run('getent', ['group', 'docker']).stdout.split(':')[2]);
    const docker = `docker -H unix://${frontSock} run -d --runtime contid --name ${name} ${engine.image} sleep 600`;
    // With no loginuid of her own (a service, cron, su without pam_loginuid) she writes alice's
    // uid herself; where this runner has a loginuid, root writes it before dropping to her (the same state).
    const ownUnset = readFileSync('/proc/self/loginuid', 'utf8').trim() === '4294967295';
    const drop = `setpriv --reuid ${mallory.uid} --regid ${mallory.gid} --groups ${dockerGid} --inh-caps -all --`;
    const script = ownUnset ? `exec ${drop} sh -c 'echo ${alice.uid} >/proc/self/loginuid && exec ${docker}'` : `echo ${alice.uid} >/proc/self/loginuid && exec ${drop} ${docker}`;
    expect(run('sh', ['-c', script], { env: { PATH: process.env.PATH, HOME: mallory.home } }).status).toBe(0);
    await waitFor('its create bound', () => bindingsOf(name).length >= 1, 60_000);
    expect(requesterOf(bindingsOf(name)[0]!)).toMatchObject({ uid: mallory.uid, auid: alice.uid, auidDiffers: true });
    const shown = JSON.parse(contid(['show', '--json', name], { env: { ...process.env, CONTID_STATE_DIR: stateDir } }).stdout) as { bindings: { op: string; detail: { requester?: unknown } }[] };
    expect(shown.bindings.find((b) => b.op === 'create')!.detail.requester).toMatchObject({ uid: mallory.uid, auid: alice.uid, auidDiffers: true });
    // alice's own run is not flagged.
    const own = uniqueName('auid-ok');
    expect(suite.docker(alice, ['run', '-d', '--runtime', 'contid', '--name', own, engine.image, 'sleep', '600']).status).toBe(0);
    await waitFor('her create bound', () => bindingsOf(own).length >= 1, 60_000);
    expect(requesterOf(bindingsOf(own)[0]!)).not.toHaveProperty('auidDiffers');
  }, 120_000);
});

describe('outside attack 5: a start noted under another container than dockerd starts', () => {
  test('alice\'s created container renamed to a 64-hex name (nobody\'s id; her rename, mallory\'s is refused), mallory copies her payload in and starts it by that name: the run is hers', () => {
    const name = uniqueName('borrow');
    expect(suite.docker(alice, ['create', '--runtime', 'contid', '--name', name, engine.image, 'sh', '-c', 'if [ -x /evil.sh ]; then exec /evil.sh; fi; sleep 600']).status).toBe(0);
    const hex = createHash('sha256').update(name).digest('hex');
    const payload = join(mallory.home, 'evil.sh');
    writeFileSync(payload, '#!/bin/sh\nexec sleep 600\n', { mode: 0o755 });
    chownSync(payload, mallory.uid, mallory.gid);
    // Since outside attack 12 (R1) she may not rename alice's container herself; alice's own
    // rename to such a name still must not make a start land under the wrong note.
    expect(suite.docker(mallory, ['rename', name, hex]).status).not.toBe(0);
    expect(suite.docker(alice, ['rename', name, hex]).status).toBe(0);
    expect(suite.docker(mallory, ['cp', payload, `${hex}:/evil.sh`]).status).toBe(0);
    const started = suite.docker(mallory, ['start', hex]);
    expect(suite.docker(alice, ['rename', hex, name]).status).toBe(0);
    expect(attribution(name)).toEqual(started.status === 0 ? { note: mallory.uid, loginuid: mallory.uid } : null);
    // The front noted nothing under the name taken for an id.
    expect(noteOf(hex)).toBeNull();
  });

  test('a start of a ref that names nothing is answered by the front as dockerd would, in its turn on a pipelined connection', () => {
    const missing = createHash('sha256').update(uniqueName('missing')).digest('hex');
    const r = raw(mallory, [[request('GET', '/_ping') + request('POST', `/v1.41/containers/${missing}/start`) + request('GET', '/_ping'), 2500]]);
    const statuses = [...r.stdout.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    expect(statuses).toEqual(['200', '404', '200']);
    expect(r.stdout).toContain(`{"message":"No such container: ${missing}"}`);
    expect(suite.docker(mallory, ['start', missing]).stderr).toContain(`No such container: ${missing}`);
  });
});

describe('outside attack 5: a connection whose connecting process is gone', () => {
  /**
   * create+start on a connection whose connect() a forked child made, the child exited (and was
   * reaped) before the first request: the front cannot read /proc/<peer pid> then. Prints each
   * answer's status and body.
   */
  const HIDE = String.raw`
use strict; use Socket; use POSIX ();
my ($path, $name, $image) = @ARGV;
socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
my $pid = fork();
if ($pid == 0) { connect($s, sockaddr_un($path)) or POSIX::_exit(1); POSIX::_exit(0); }
waitpid($pid, 0); die "connect failed\n" if $?;
select((select($s), $| = 1)[0]);
sub req { my ($m, $u, $b) = @_; $b //= '';
  print $s "$m $u HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ".length($b)."\r\n\r\n$b";
  my $head = ''; while (<$s>) { $head .= $_; last if $_ eq "\r\n"; }
  my ($len) = $head =~ /Content-Length: (\d+)/i; my $body = '';
  if (defined $len) { read($s, $body, $len) if $len; } elsif ($head =~ /chunked/i) { while (my $l = <$s>) { my $n = hex($l); if (!$n) { <$s>; last } read($s, my $c, $n); $body .= $c; <$s>; } }
  my ($st) = $head =~ /^HTTP\/1.1 (\d+)/; return ($st, $body); }
my ($st, $b) = req('POST', "/v1.41/containers/create?name=$name", qq({"Image":"$image","Cmd":["sleep","600"],"HostConfig":{"Runtime":"contid"}}));
print "create $st $b\n"; my ($id) = $b =~ /"Id":"([0-9a-f]+)"/;
($st, $b) = req('POST', "/v1.41/containers/" . ($id // $name) . "/start"); print "start $st $b\n";
`;

  test('create+start sent after the connecting child exited never run unnoted: refused with one clear answer and logged, or noted as mallory\'s', async () => {
    const script = join(mallory.home, 'hide.pl');
    writeFileSync(script, HIDE);
    const outcomes: string[] = [];
    for (let i = 0; i < 10; i++) {
      const name = uniqueName('hide');
      const r = mallory.run(['perl', script, frontSock, name, engine.image]);
      const who = attribution(name);
      if (who) {
        expect(who).toEqual({ note: mallory.uid, loginuid: mallory.uid });
        outcomes.push('noted');
      } else {
        expect(r.stdout).toMatch(/^create 403 \{"message":"contid docker front: cannot tell who asked: the process that connected \(pid \d+, uid \d+\) is gone.*"\}\n/);
        outcomes.push('refused');
      }
    }
    if (outcomes.includes('refused')) await waitFor('the refusal logged', () => /refused POST \/v1\.41\/containers\/create\?name=hide-.* from uid \d+ \(pid \d+, gone\)/.test(front.log), 10_000);
  }, 180_000);
});

describe('outside attack 5: processes dockerd starts itself for a client (build, swarm)', () => {
  const refusal = (what: string) => new RegExp(`contid docker front: ${what} is refused for users other than root: .*--allow-unattributed ${what}`);

  /** mallory's legacy `docker build` through the front: its result and the RUN step's loginuid, if it ran. */
  function build(): { r: RunResult; loginuid: string | undefined } {
    const ctx = mkdtempSync(join(mallory.home, 'ctx-'));
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${engine.image}\nRUN echo "loginuid=$(cat /proc/self/loginuid)"\n`);
    run('chown', ['-R', `${mallory.uid}:${mallory.gid}`, ctx]);
    const tag = `local/${uniqueName('built')}:1`;
    try {
      const r = mallory.run(['docker', '-H', `unix://${frontSock}`, 'build', '--no-cache', '-t', tag, ctx], { env: { DOCKER_BUILDKIT: '0' } });
      return { r, loginuid: /loginuid=(\d+)/.exec(r.stdout)?.[1] };
    } finally {
      engine.docker(['rmi', '-f', tag]);
    }
  }

  test('mallory\'s docker build (legacy builder) never runs a RUN step with no requester: refused, or the step runs with her auid', () => {
    const { r, loginuid } = build();
    if (r.status === 0) expect(loginuid).toBe(String(mallory.uid));
    else expect(r.stderr).toMatch(refusal('build'));
  }, 120_000);

  test('--allow-unattributed build relays it, giving up what it says: the RUN step has no login uid of hers', async () => {
    await front.stop();
    try {
      await front.start(['--allow-unattributed', 'build']);
      const { r, loginuid } = build();
      expect(r.status).toBe(0);
      expect(loginuid).not.toBe(String(mallory.uid));
      // Only what was allowed: swarm is still refused.
      expect(suite.docker(mallory, ['swarm', 'init', '--advertise-addr', '127.0.0.1']).stderr).toMatch(refusal('swarm'));
    } finally {
      await front.stop();
      await front.start();
    }
  }, 120_000);

  test('mallory\'s swarm init and service create never run a task with no requester: refused, or the task runs with her auid', async () => {
    const svc = uniqueName('svc');
    try {
      const init = suite.docker(mallory, ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      if (init.status !== 0) expect(init.stderr).toMatch(refusal('swarm'));
      const created = suite.docker(mallory, ['service', 'create', '-d', '--name', svc, '--restart-condition', 'none', engine.image, 'sleep', '600']);
      if (created.status !== 0) return expect(created.stderr).toMatch(refusal('swarm'));
      const task = await waitFor('the task container', () => engine.docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${svc}`]).stdout.trim().split('\n')[0], 60_000);
      expect(Number(engine.docker(['exec', task, 'cat', '/proc/1/loginuid']).stdout)).toBe(mallory.uid);
    } finally {
      engine.docker(['service', 'rm', svc]);
      engine.docker(['swarm', 'leave', '--force']);
      engine.docker(['network', 'rm', 'docker_gwbridge']);
    }
  }, 120_000);
});

describe('dockerd\'s own socket behind the front', () => {
  test('is root-only while the front runs: group docker reaches dockerd only through the front', () => {
    const st = lstatSync(upstream);
    expect(st.uid === 0 && (st.mode & 0o077) === 0).toBe(true);
    expect(mallory.run(['docker', '-H', `unix://${upstream}`, 'version', '--format', '{{.Server.Version}}']).status).not.toBe(0);
    expect(suite.docker(mallory, ['version', '--format', '{{.Server.Version}}']).status).toBe(0);
  });

  test('contid doctor says when it is not (dockerd made it anew, as on its restart); a front restart closes it again', async () => {
    const env = { ...process.env, CONTID_STATE_DIR: stateDir, CONTID_DOCKER_UPSTREAM: upstream };
    const line = () => contid(['doctor'], { env }).stdout.split('\n').find((l) => l.includes('docker front upstream: '));
    expect(line()).toMatch(/^ok  /);
    chownSync(upstream, 0, Number(run('getent', ['group', 'docker']).stdout.split(':')[2]));
    chmodSync(upstream, 0o660);
    expect(line()).toMatch(new RegExp(`^WARN  docker front upstream: ${upstream} .* is 0660.* — fix: `));
    expect(mallory.run(['docker', '-H', `unix://${upstream}`, 'version', '--format', '{{.Server.Version}}']).status).toBe(0);
    await front.stop();
    await front.start();
    expect(line()).toMatch(/^ok  /);
    expect(mallory.run(['docker', '-H', `unix://${upstream}`, 'version', '--format', '{{.Server.Version}}']).status).not.toBe(0);
  });

  test('fail-open gives group docker dockerd\'s socket back', async () => {
    await front.stop();
    try {
      expect(suite.docker(mallory, ['version', '--format', '{{.Server.Version}}']).status).toBe(0);
    } finally {
      await front.start();
    }
  });
});
