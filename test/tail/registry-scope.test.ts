import { mkdirSync, writeFileSync } from 'node:fs';
import { uptime } from 'node:os';
import { join } from 'node:path';
import { Registry } from '@contid/core';
import { contid, tempStateDir } from '../helpers/cli';

/*
 * Outside attack 4 (finding 1): contid tail fell back to the registry by session number
 * alone. The registry binds this node's sessions of this boot; an exec of the container's
 * session relabelled node=othernode, or stamped before this boot began (an earlier boot's
 * session with the same number), was printed as the container's — in json, ecs and under
 * `tail -c NAME` — while search on the same input said no container. Fed to the built CLI as
 * the auditd plugin's stream, no root: the registry is a fresh state directory.
 */
describe('contid tail: the registry answers only for this node\'s events of this boot (outside attack)', () => {
  const tmp = tempStateDir('tail-registry-scope');
  const stateDir = join(tmp.dir, 'state');
  const trustDir = join(tmp.dir, 'trust');
  const SES = 52724;
  const now = Math.floor(Date.now() / 1000);
  // an hour before this boot began: an earlier boot's record of the same session number
  const before = Math.floor(Date.now() / 1000 - uptime()) - 3600;
  const exec = (node: string, sec: number, serial: number, arg: string): string[] => {
    const pfx = node ? `node=${node} ` : '';
    const stamp = `${sec}.338:${serial}`;
    return [
      `${pfx}type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=8 items=1 ppid=27258 pid=27284 auid=1001 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${SES} comm="exe" exe="/bin/busybox" key="k4"`,
      `${pfx}type=EXECVE msg=audit(${stamp}): argc=2 a0="busybox" a1="${arg}"`,
      `${pfx}type=PROCTITLE msg=audit(${stamp}): proctitle=62757379626F78`,
    ];
  };
  const stream = [
    ...exec('', now, 2457265, 'local-this-boot'),
    ...exec('othernode', now, 2457266, 'other-node'),
    ...exec('', before, 1234, 'earlier-boot'),
  ];

  beforeAll(() => {
    mkdirSync(trustDir, { recursive: true });
    const registry = Registry.open(stateDir);
    registry.registerContainer({ orchestrator: 'docker', name: 'm-inj', session: SES }, { session: SES, pid: 27284, op: 'create', detail: {} });
    registry.close();
  });
  afterAll(() => tmp.cleanup());

  const tail = (args: string[]): string => {
    const r = contid(['tail', '--source', 'plugin', '--state-dir', stateDir, '--trust-dir', trustDir, ...args], { input: `${stream.join('\n')}\n`, env: tmp.env });
    expect(r.status).toBe(0);
    return r.stdout;
  };
  const byArg = (out: string): Record<string, string | null> => {
    const got: Record<string, string | null> = {};
    for (const line of out.split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { container: { name: string } | null };
      got[/a1=\\?"([^"\\]+)/.exec(line)![1]] = e.container?.name ?? null;
    }
    return got;
  };

  it('json: only this node\'s event of this boot is the container\'s', () => {
    expect(byArg(tail(['--format', 'json']))).toEqual({ 'local-this-boot': 'm-inj', 'other-node': null, 'earlier-boot': null });
  });

  it('ecs: the same', () => {
    const out = tail(['--format', 'ecs']);
    const got: Record<string, string | null> = {};
    for (const line of out.split('\n').filter(Boolean)) {
      const e = JSON.parse(line) as { container?: { name?: string } };
      got[/a1=\\?"([^"\\]+)/.exec(line)![1]] = e.container?.name ?? null;
    }
    expect(got).toEqual({ 'local-this-boot': 'm-inj', 'other-node': null, 'earlier-boot': null });
  });

  it('tail -c m-inj prints this node\'s event of this boot and nothing else', () => {
    const out = tail(['--format', 'raw', '-c', 'm-inj']);
    expect(out.split('\n').filter(Boolean)).toEqual(exec('', now, 2457265, 'local-this-boot'));
  });

  it('search on the same input agrees for the other node and the earlier boot (no binding there: no container)', () => {
    const log = join(tmp.dir, 'stream.log');
    writeFileSync(log, `${stream.join('\n')}\n`);
    const r = contid(['search', '--trust-dir', trustDir, '--no-index', '-if', log, '--format', 'json'], { env: tmp.env });
    expect(r.status).toBe(0);
    const got = byArg(r.stdout);
    expect([got['other-node'], got['earlier-boot']]).toEqual([null, null]);
  });
});
