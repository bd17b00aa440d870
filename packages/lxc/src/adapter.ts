import type { Adapter } from '@contid/oci';
import { LxcEndWatcher } from './end-watcher';
import { lxcHealth } from './health';
import { lxcInstaller } from './installer';
import { recordSpooledInit } from './spooled-hook';

/**
 * LXC through contid-lxc (start, attach and the start-host hook, no Node): the hook's init
 * entries bound as the container's init, the containers' ends followed inside contid serve
 * (their monitors), its checks for `contid doctor`, its hook installed. A fresh one per list:
 * the ends it follows belong to the serve that started it.
 */
export function lxcAdapter(): Adapter {
  const ends = new LxcEndWatcher();
  return {
    name: 'lxc',
    health: lxcHealth,
    installer: lxcInstaller,
    recordInit: (entry, tagger) => {
      const outcome = recordSpooledInit(entry, tagger);
      ends.follow(outcome.contid);
      return outcome;
    },
    serve: ({ tagger, log, spool }) => {
      ends.start(tagger, log, () => spool.pendingNames());
      return { stop: () => ends.stop() };
    },
  };
}
