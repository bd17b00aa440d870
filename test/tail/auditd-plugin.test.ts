import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PLUGIN_CONF_PATH, PLUGIN_LAUNCHER_PATH, auditdPid, auditdRunner, pluginConf, restartAdvice, runningPlugins } from '@contid/audit';
import { addExecveRule, deleteExecveRule } from '../helpers/audit';
import { REPO_ROOT, contid, tempStateDir, uniqueName } from '../helpers/cli';
import { execArgs, execveEvents, jsonEvents, startTail, until, type JsonEvent } from './live-helpers';

const key = `contid-tailplug-${randomBytes(4).toString('hex')}`;
const state = tempStateDir('tailplug');
const out = join(state.dir, 'live.jsonl');
const pluginLog = join(state.dir, 'plugin.log');
const nameA = uniqueName('plugA');
const nameB = uniqueName('plugB');

function runningAuditd(): number {
  const pid = auditdPid();
  if (pid === null) throw new Error('auditd is not running (scripts/setup-host.sh starts it)');
  return pid;
}
/** auditd re-reads plugins.d on SIGHUP: starts new plugins, stops removed ones. */
const reloadAuditd = (): void => {
  process.kill(runningAuditd(), 'SIGHUP');
};
/** auditd's children running our plugin (this test's state dir on their command line). */
const pluginPids = (): number[] =>
  runningPlugins(runningAuditd()).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(state.dir);
    } catch {
      return false;
    }
  });
/** Our execs (see execveEvents: matched by session, not by our rule's key). */
const mine = execveEvents;

beforeAll(() => addExecveRule(key));
afterAll(async () => {
  // Leave auditd as we found it: our plugin gone, auditd running.
  if (existsSync(PLUGIN_LAUNCHER_PATH)) contid(['uninstall', 'auditd-plugin'], { env: state.env });
  if (pluginPids().length > 0) reloadAuditd();
  await until(() => pluginPids().length === 0, 10_000);
  deleteExecveRule(key);
  state.cleanup();
});

// In 2 of 5 full CI runs on 2026-12-01 the plugin wrote none of the test's events (multicast
// saw them); never alone (7 runs) nor beside its CI neighbours. Retried once, the failed
// attempt's error — with the plugin's log — printed, so the next CI that meets it says why.
jest.retryTimes(1, { logErrorsBeforeRetry: true });

describe('contid as a real auditd plugin (installed into the running auditd, removed after)', () => {
  test('the shipped plugins.d file is what the installer writes', () => {
    expect(readFileSync(join(REPO_ROOT, 'integrations/auditd/contid.conf'), 'utf8')).toBe(pluginConf());
  });

  test('auditd runs contid tail --source plugin; it gets the same events as the multicast mode', async () => {
    // a first attempt of this test (retried below) leaves its own plugin installed: taken out first
    if (existsSync(PLUGIN_CONF_PATH) && existsSync(PLUGIN_LAUNCHER_PATH) && readFileSync(PLUGIN_LAUNCHER_PATH, 'utf8').includes(state.dir)) {
      expect(contid(['uninstall', 'auditd-plugin'], { env: state.env }).status).toBe(0);
      await until(() => pluginPids().length === 0, 10_000);
      rmSync(out, { force: true });
      rmSync(pluginLog, { force: true });
    }
    if (existsSync(PLUGIN_CONF_PATH)) throw new Error(`${PLUGIN_CONF_PATH} already exists on this host; not touching it`);
    // restart=no: the installer either started the plugin by reload, or (auditd 3.0.9 starts
    // none on SIGHUP once a reload has stopped one) says so and exactly what to run.
    const manual = contid(['install', 'auditd-plugin', `output=${out}`, 'format=json', `container=${nameA}`, `log=${pluginLog}`, 'restart=no'], { env: state.env });
    if (manual.status !== 0) {
      const pid = runningAuditd();
      // This host runs auditd without systemd: the advice is to stop it and run the same command line.
      expect(restartAdvice(auditdRunner(pid), pid)).toMatch(existsSync('/run/systemd/system') ? /^systemctl restart auditd\.service$/ : new RegExp(`^kill -TERM ${pid}; \\S*auditd`));
      expect(manual.stderr).toBe(
        `contid: auditd (pid ${pid}) did not start the plugin on reload (auditd 3.0.9 starts no plugin on SIGHUP once a reload has stopped one, until it is restarted); to apply it, restart auditd: ${restartAdvice(auditdRunner(pid), pid)}\n`,
      );
      // Installed again with the default: it restarts auditd the way this host runs it.
      const installed = contid(['install', 'auditd-plugin', `output=${out}`, 'format=json', `container=${nameA}`, `log=${pluginLog}`], { env: state.env });
      expect(installed.stderr).toBe('');
      // by a restart, or by one more reload (auditd 3.0.9 sometimes applies a change a reload late)
      expect(installed.stdout).toMatch(/^installed .*contid\.conf; (auditd \(pid \d+\) started the plugin|.*; restarted auditd \(.+\): auditd \(pid \d+\) started the plugin); its reports go to /);
    } else {
      expect(manual.stderr).toBe('');
      expect(manual.stdout).toMatch(/installed .*auditd-plugin, .*contid\.conf; auditd \(pid \d+\) started the plugin/);
    }
    expect(readFileSync(PLUGIN_LAUNCHER_PATH, 'utf8')).toContain(`--output ${out}`);
    // auditd runs the plugin's own entry (contid tail alone, no yargs), with the launcher's node flags
    expect(readFileSync(PLUGIN_LAUNCHER_PATH, 'utf8')).toMatch(/^exec \S+\/node --max-semi-space-size=1 \S+\/packages\/cli\/dist\/tail-main\.js tail --source plugin /m);
    expect(pluginPids().length).toBeGreaterThan(0);
    await until(() => existsSync(out) && existsSync(pluginLog) && readFileSync(pluginLog, 'utf8').includes('tail ready (source=plugin)'), 15_000);
    expect(readFileSync(pluginLog, 'utf8')).toContain('contid: tail ready (source=plugin)');

    const multicast = await startTail(['--source', 'multicast', '--container', nameA, '--format', 'json'], state.env);
    for (const [name, word] of [[nameA, 'alpha'], [nameB, 'bravo']]) {
      const r = contid(['exec', '--name', name, '--', 'sh', '-c', `/bin/echo ${word}-1; /bin/true; /bin/echo ${word}-2`], { env: state.env });
      expect(r.status).toBe(0);
    }
    const pluginEvents = (): JsonEvent[] => jsonEvents(readFileSync(out, 'utf8'));
    // auditd hands the plugin every record of the host: under a loaded CI host it lagged past 15 s once
    await until(() => mine(pluginEvents()).some((e) => execArgs(e).join(' ') === '/bin/echo alpha-2') && mine(jsonEvents(multicast.stdout())).length >= 3, 45_000);
    await multicast.stop();

    const fromPlugin = mine(pluginEvents());
    const fromMulticast = mine(jsonEvents(multicast.stdout()));
    // what to look at when the plugin wrote none of them (seen twice in CI, never alone)
    if (fromPlugin.length === 0) {
      throw new Error(
        `the plugin wrote none of our execs: ${pluginEvents().length} events in its output, multicast saw ${fromMulticast.length} of ours, plugins running ${JSON.stringify(pluginPids())}; its log:\n${readFileSync(pluginLog, 'utf8').slice(-3000)}`,
      );
    }
    expect(fromPlugin.map(execArgs).filter((a) => a.length > 0).slice(-3).map((a) => a.join(' '))).toEqual([
      '/bin/echo alpha-1',
      '/bin/true',
      '/bin/echo alpha-2',
    ]);
    expect(fromPlugin.map((e) => e.serial)).toEqual(fromMulticast.map((e) => e.serial));
    expect(pluginEvents().every((e) => e.container?.name === nameA)).toBe(true);
    expect(readFileSync(out, 'utf8')).not.toContain('bravo');

    // Uninstall: auditd stops the plugin on the next reload and keeps running.
    const before = runningAuditd();
    expect(contid(['uninstall', 'auditd-plugin'], { env: state.env }).stdout).toMatch(/^removed .*; auditd \(pid \d+\) stopped the plugin/);
    expect(pluginPids()).toEqual([]);
    await until(() => /tail \(plugin\): received \d+ records, dropped 0 /.test(readFileSync(pluginLog, 'utf8')), 5000);
    expect(readFileSync(pluginLog, 'utf8')).toMatch(/contid: tail \(plugin\): received \d+ records, dropped 0 /);
    expect(runningAuditd()).toBe(before);
    expect(existsSync(PLUGIN_CONF_PATH)).toBe(false);
  });
});
