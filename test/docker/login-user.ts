import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunResult, run } from '../helpers/cli';

/** A second login user in group docker, as the suites that act as a non-root docker user need. */
export interface LoginUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** Outside the root-only state directories: the docker CLI keeps its config there. */
  readonly home: string;
  /** ARGV as this user in a fresh login session: the shell sets its loginuid (as pam_loginuid does), then drops to the user. */
  run(argv: string[], options?: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv }): RunResult;
  remove(): void;
}

/** Creates NAME (removing a leftover of a crashed run first), with a home of its own. */
export function createLoginUser(name: string): LoginUser {
  spawnSync('userdel', [name]);
  const added = spawnSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
  if (added.status !== 0) throw new Error(`useradd: ${added.stderr}`);
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  const dockerGid = Number(spawnSync('getent', ['group', 'docker'], { encoding: 'utf8' }).stdout.split(':')[2]);
  const home = mkdtempSync(join(tmpdir(), `${name}-`));
  spawnSync('chown', [`${uid}:${gid}`, home]);
  return {
    name,
    uid,
    gid,
    home,
    run(argv, options = {}) {
      const script = `echo ${uid} >/proc/self/loginuid && exec setpriv --reuid ${uid} --regid ${gid} --groups ${dockerGid} --inh-caps -all -- "$@"`;
      return run('sh', ['-c', script, 'sh', ...argv], { input: options.input, cwd: options.cwd, timeout: 180_000, env: { PATH: process.env.PATH, HOME: home, ...(options.env ?? {}) } });
    },
    remove() {
      spawnSync('userdel', [name]);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
