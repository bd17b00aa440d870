import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Tagger } from '@contid/core';
import { DockerAgent, RequesterStore, Spool } from '@contid/docker';
import { tempStateDir } from '../helpers/cli';
import { DockerEngine, EngineOptions } from './engine';
import { FrontProcess } from './front-process';

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

  async stop(): Promise<void> {
    await this.agent?.stop();
    this.tagger?.close();
    await this.front.stop();
    await this.engine.stop();
    this.state.cleanup();
  }
}
