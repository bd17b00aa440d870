import type { CommandModule } from 'yargs';
import { configFromEnv, runHealthChecks } from '@contid/core';
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
    else for (const r of results) process.stdout.write(`${MARK[r.status]}  ${r.check}: ${r.detail}${r.fix && r.status !== 'ok' ? ` — fix: ${r.fix}` : ''}\n`);
    if (results.some((r) => r.status === 'fail')) process.exitCode = 1;
  },
};
