import type { Adapter } from '@contid/oci';
import { systemdInstaller } from './installer';
import { bindSpooledLine, recordSpooledMainPid } from './spooled';
import { SystemdEndFollower, setActiveEndFollower } from './end-follower';

/**
 * systemd units through contid-systemd (every Exec line, no Node): each spooled line bound by
 * create-or-join on its invocation, the main pid recorded as the container's init, the end
 * learnt from PID 1 by contid serve (end-follower.ts), units enabled for contid's generator.
 */
export const systemdAdapter: Adapter = {
  name: 'systemd',
  bindSpawned: bindSpooledLine,
  recordInit: recordSpooledMainPid,
  installer: systemdInstaller,
  serve({ tagger, spool, log }) {
    const follower = new SystemdEndFollower(tagger, spool, log);
    setActiveEndFollower(follower);
    follower.start();
    return {
      stop() {
        setActiveEndFollower(null);
        follower.stop();
      },
    };
  },
};
