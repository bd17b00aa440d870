import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tagger } from '@contid/core';
import { DockerAgent, RequesterStore, Spool } from '@contid/docker';
import { RunResult, run, tempStateDir } from '../helpers/cli';
import { DOCKER_SHIM, DockerEngine, EngineOptions } from './engine';
import { FrontProcess } from './front-process';
import { LoginUser, createLoginUser } from './login-user';

/**
 * A suite's own dockerd (label LABEL) behind a real `contid docker front`, with the shim's
 * requesters and spool in a temporary state directory and a Docker agent binding into its own
 * registry: what the suites that act as docker users through the front share.
 */
export class FrontSuite {
  readonly state: ReturnType<typeof tempStateDir>;
  readonly stateDir: string;
  readonly requesters: string;
  readonly engine: DockerEngine;
  readonly frontSock: string;
  readonly upstream: string;
  readonly front: FrontProcess;
  tagger!: Tagger;
  agent!: DockerAgent;
  /** Login users made for this suite (loginUser), removed by stop(). */
  private readonly users: LoginUser[] = [];

  /**
   * A suite whose dockerd runs contid's shim as its default runtime, as the security suites
   * attack it (dockerd checks the default runtime against its config file's runtimes only, not
   * --add-runtime, so the shim is named in a daemon.json of the suite's own).
   */
  static withContidDefault(label: string, image: EngineOptions['image']): FrontSuite {
    const state = tempStateDir(`${label}-config`);
    const configFile = join(state.dir, 'daemon.json');
    writeFileSync(configFile, JSON.stringify({ 'default-runtime': 'contid', runtimes: { contid: { path: DOCKER_SHIM } } }));
    const suite = new FrontSuite(label, image, { configFile, shimRuntime: false });
    suite.configState = state;
    suite.configFile = configFile;
    return suite;
  }

  private configState?: ReturnType<typeof tempStateDir>;
  /** withContidDefault's daemon.json. */
  configFile?: string;

  /** A real login user in group docker (a non-root docker user), removed when the suite stops. */
  loginUser(name: string): LoginUser {
    const user = createLoginUser(name);
    this.users.push(user);
    return user;
  }

  /**
   * DIR (root's, made 0755) with a directory `hers` in it that USER owns: her own files on a path
   * she cannot redirect, as a bind mount of hers must be. Its path; DIR is removed at stop().
   */
  userDirectory(dir: string, user: LoginUser): string {
    const hers = join(dir, 'hers');
    chmodSync(dir, 0o755);
    mkdirSync(hers, { mode: 0o755 });
    chownSync(hers, user.uid, user.uid);
    this.directories.push(dir);
    return hers;
  }

  private readonly directories: string[] = [];

  /** USER's docker CLI, talking to the front (INPUT its stdin); null: host root's. */
  docker(user: LoginUser | null, args: string[], input?: string): RunResult {
    const argv = ['docker', '-H', `unix://${this.frontSock}`, ...args];
    return user ? user.run(argv, { input }) : run(argv[0]!, argv.slice(1), { input, timeout: 120_000 });
  }

  /** `docker inspect -f FORMAT NAME` of the suite's dockerd itself (not through the front), trimmed. */
  inspect(name: string, format: string): string {
    return this.engine.docker(['inspect', '-f', format, name]).stdout.trim();
  }

  /**
   * The front's refusal of WHAT (plain text, matched as written, then anything up to the end of
   * the line), as the docker CLI prints it and as the API body carries it: one line.
   */
  static refusal(what: string): RegExp {
    return new RegExp(`contid docker front: ${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[^\\n]* is refused for users other than root: [^\\n]+`);
  }

  /** R, a docker CLI run through the front, was refused about WHAT: exit 1, nothing on stdout, the refusal's line on stderr. */
  static refused(r: RunResult, what: string): void {
    expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: '' });
    expect(r.stderr).toMatch(FrontSuite.refusal(what));
  }

  /** `METHOD PATH` of the front's API (with BODY as JSON) as USER (null: host root), by curl: dockerd's or the front's status and body. */
  call(user: LoginUser | null, method: string, path: string, body?: unknown): { status: number; body: string } {
    const argv = ['curl', '-sS', '--unix-socket', this.frontSock, '-X', method, '-H', 'Content-Type: application/json', '-w', '\n%{http_code}', ...(body === undefined ? [] : ['-d', JSON.stringify(body)]), `http://x${path}`];
    return FrontSuite.answer(user ? user.run(argv) : run(argv[0]!, argv.slice(1), { timeout: 60_000 }));
  }

  /** What curl printed with `-w '\n%{http_code}'`: the HTTP status (its last line) and the body before it. */
  static answer(r: RunResult): { status: number; body: string } {
    const lines = r.stdout.trimEnd().split('\n');
    return { status: Number(lines.at(-1)), body: lines.slice(0, -1).join('\n').trimEnd() };
  }

  /** ENGINE: more options for the suite's dockerd (its config file …). */
  constructor(label: string, image: EngineOptions['image'], engine: Omit<EngineOptions, 'label' | 'env' | 'image'> = {}) {
    this.state = tempStateDir(label);
    this.stateDir = join(this.state.dir, 'state');
    this.requesters = join(this.state.dir, 'requesters');
    this.engine = new DockerEngine({
      label,
      env: { CONTID_STATE_DIR: this.stateDir, CONTID_RUNC_CONF: join(this.state.dir, 'none.conf'), CONTID_REQUESTERS_DIR: this.requesters },
      image,
      ...engine,
    });
    this.frontSock = `${this.engine.execRoot}/front.sock`;
    this.upstream = `${this.engine.execRoot}/docker.sock`;
    this.front = new FrontProcess({ listen: this.frontSock, upstream: this.upstream, requesters: this.requesters });
  }

  async start(): Promise<void> {
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    await this.engine.start();
    await this.front.start();
    this.tagger = Tagger.open({ stateDir: this.stateDir, failPolicy: 'open' });
    this.agent = new DockerAgent({ docker: this.engine.api, tagger: this.tagger, spool: new Spool(join(this.stateDir, 'spool')), requesters: new RequesterStore(this.requesters), scanMs: 500 });
    await this.agent.start();
  }

  /** Stops everything start() started; the engine's containers (engine.stop) and volumes go, and the suite's users. */
  async stop(): Promise<void> {
    await this.agent?.stop();
    this.tagger?.close();
    await this.front.stop();
    this.engine.docker(['volume', 'prune', '-f']);
    await this.engine.stop();
    this.state.cleanup();
    this.configState?.cleanup();
    for (const user of this.users.splice(0)) user.remove();
    for (const dir of this.directories.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
