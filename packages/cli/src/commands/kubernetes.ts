import type { CommandModule } from 'yargs';
import { hostname } from 'node:os';
import { ContidError, FailPolicy, Tagger } from '@contid/core';
import { Spool, SpoolDrainer, spoolDirFromEnv } from '@contid/oci';
import { applyDrainNice, niceOption } from './drain-nice';
import { DEFAULT_PREFIX_CONFIGMAP, KubeConfig, KubernetesAgent, kubernetesIdentifier, loadKubeConfig, probeDescriber } from '@contid/kubernetes';

interface KubernetesAgentArgs {
  node?: string;
  namespace?: string;
  kubeconfig?: string;
  'prefix-configmap': string;
  resync: number;
  'drain-spool': boolean;
  spool?: string;
  nice: number;
}

// A ConfigMap data key and a node name must both be DNS subdomains.
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function kubeConfig(file: string | undefined): KubeConfig {
  try {
    return loadKubeConfig(file);
  } catch (e) {
    throw new ContidError(`cannot load kubeconfig${file ? ` ${file}` : ''}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** How long a stopped agent waits for the API server's open requests before it exits anyway. */
const STOP_GRACE_MS = 2_000;

const log = (line: string): void => void process.stderr.write(`contid agent kubernetes: ${line}\n`);

export const kubernetesAgent: CommandModule<object, KubernetesAgentArgs> = {
  command: 'kubernetes',
  describe: "node agent: claim this node's ID prefix, annotate this node's pods with their contids, enrich the registry",
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: 'this node’s name (default $NODE_NAME, else the host name)' })
      .option('namespace', { type: 'string', describe: 'namespace of the prefix ConfigMap (default $POD_NAMESPACE, else contid-system)' })
      .option('kubeconfig', { type: 'string', describe: 'kubeconfig file (default $KUBECONFIG, ~/.kube/config, or in-cluster)' })
      .option('prefix-configmap', { type: 'string', default: DEFAULT_PREFIX_CONFIGMAP, describe: 'ConfigMap holding every node’s ID prefix' })
      .option('resync', { type: 'number', default: 15, describe: 'seconds between re-checks of every pod' })
      .option('drain-spool', { type: 'boolean', default: true, describe: 'also tag the containers the contid-runc shim hands over (containerd/CRI-O nodes); --no-drain-spool where `contid docker agent` does it' })
      .option('spool', { type: 'string', describe: 'the shim’s spool (default $CONTID_SPOOL_DIR or $CONTID_STATE_DIR/spool)' })
      .option('nice', niceOption),
  handler: async (argv) => {
    applyDrainNice(argv.nice);
    const nodeName = argv.node ?? process.env.NODE_NAME ?? hostname();
    if (!DNS_SUBDOMAIN.test(nodeName) || nodeName.length > 253) throw new ContidError(`node name "${nodeName}" is not a Kubernetes node name`);
    const namespace = argv.namespace ?? process.env.POD_NAMESPACE ?? 'contid-system';
    if (!Number.isFinite(argv.resync) || argv.resync < 1) throw new ContidError(`--resync must be at least 1 second, got ${argv.resync}`);
    const kc = kubeConfig(argv.kubeconfig);
    // The agent writes the registry (labels, the node prefix, ends) through the tagger, so each
    // change is recorded in the audit trail: it needs root's audit capabilities either way.
    // Fail-open unless told otherwise, as for Docker: a pod must not fail to start because contid is down.
    const policy: FailPolicy | undefined = process.env.CONTID_FAIL_POLICY ? undefined : 'open';
    const tagger = Tagger.open({ failPolicy: policy });
    const agent = new KubernetesAgent({
      kubeConfig: kc,
      tagger,
      // Where `contid docker agent` tags this node, it also ends what it tagged.
      endFinished: argv['drain-spool'],
      nodeName,
      namespace,
      prefixConfigMap: argv['prefix-configmap'],
      resyncMs: argv.resync * 1000,
      log,
    });
    // Execs whose command is one of their container's exec probes in the watched pod spec are marked as probes.
    const describeExec = probeDescriber(() => agent.pods());
    const drainer = argv['drain-spool'] ? new SpoolDrainer({ tagger, spool: new Spool(argv.spool ?? spoolDirFromEnv()), identifiers: [kubernetesIdentifier], describeExec, log }) : null;
    let stopping = false;
    const signalled = new Promise<null>((resolve) => {
      const stop = (signal: NodeJS.Signals) => {
        stopping = true;
        log(`${signal}: stopping`);
        resolve(null);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    try {
      // IDs carry the node prefix: tag only once the node has one (hand-offs wait in the spool).
      if (tagger.nodePrefix() !== null) await drainer?.start();
      // The claim's requests cannot be cancelled: an API server that holds one (a partition)
      // must not keep a stopped agent waiting for it.
      const claim = await Promise.race([agent.start(), signalled]);
      if (claim) {
        await drainer?.start();
        log(`watching pods of node ${nodeName} (ID prefix ${claim.prefix})${drainer ? `; draining ${drainer.dir}` : ''}`);
        await signalled;
      }
    } catch (e) {
      // Asked to stop while still waiting for the API server: a clean exit, not a failure.
      if (!stopping) throw e;
    } finally {
      // A pod PATCH in flight may finish, for as long as the grace; the registry writes made
      // before it are done already (synchronous), and the spool drainer is waited for in full.
      await Promise.race([agent.stop(), new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
      await drainer?.stop();
      tagger.close();
    }
    // A request the API server still holds (a pod list, a claim, a PATCH) cannot be cancelled
    // through the client library and would keep the process alive after everything is closed.
    if (stopping) setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
  },
};
