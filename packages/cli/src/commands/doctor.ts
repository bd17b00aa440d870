import type { CommandModule } from 'yargs';
import { configFromEnv, escapeText, runHealthChecks } from '@contid/core';
import { adapterHealth, spoolHealth } from '@contid/oci';
import { serviceHealth } from '@contid/service';
import { adapters } from '../adapters';
import { printJson } from '../output';

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

export const doctorCommand: CommandModule<{ json: boolean }, { json: boolean }> = {
  command: 'doctor',
  describe: "check this host: privileges, audit, auditd, loginuid_immutable, procfs contid, registry — each problem says how to fix it",
  handler: (argv) => {
    const config = configFromEnv();
    // The host's checks, the service's (who could reach it, what runs untagged), the spool's
    // (how many hand-offs wait), then each adapter's: all named here, none registered at import.
    const results = [...runHealthChecks(config), ...serviceHealth(config), ...spoolHealth(config), ...adapterHealth(adapters(), config)];
    if (argv.json) results.forEach(printJson);
    // Details and fixes name containers, and a nested orchestrator names its children as it likes:
    // escaped, or a name could clear the screen and print "all clear" over its own warning.
    else for (const r of results) process.stdout.write(`${MARK[r.status]}  ${r.check}: ${escapeText(r.detail)}${r.fix && r.status !== 'ok' ? ` — fix: ${escapeText(r.fix)}` : ''}\n`);
    if (results.some((r) => r.status === 'fail')) process.exitCode = 1;
  },
};
