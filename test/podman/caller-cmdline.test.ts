import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Spool, type IdentifyContext, type OciSpec } from '@contid/oci';
import { podmanIdentifier } from '@contid/podman';
import { REPO_ROOT, tempStateDir } from '../helpers/cli';
import { buildFastShim } from '../helpers/fast-shim';

/**
 * The shim records the first 4096 bytes of its caller's command line (c31bf40), and @contid/podman
 * takes conmon's `-n NAME` and `--exit-command podman` from it. conmon's command line passes 4096
 * bytes when Podman's paths are long (its --root appears three times before `--exit-command`,
 * --runroot twice, a `--log-opt path=` once): the last argument is then cut. Before (attack33):
 * a name cut short was taken whole — `web-1-canary` recorded as `web-1`, another container's
 * name — and a recorded command line that ended before `--exit-command` was preferred to the
 * whole one of the conmon still running. Here the caller is a process named /usr/bin/conmon
 * (argv0) with Podman's arguments, running the real shims (the sh, the compiled one).
 */
const state = tempStateDir('podman-caller');
const spool = join(state.dir, 'spool');
const ID = 'ab'.repeat(32);
// Podman's layout: <root>/<driver>-containers/<id>/userdata, so the spec with its annotation says Podman.
const bundle = join(state.dir, 'storage', 'overlay-containers', ID, 'userdata');
const fake = join(state.dir, 'fake-runtime');
const fast = join(state.dir, 'fast', 'contid-runc-fast');

beforeAll(() => {
  mkdirSync(bundle, { recursive: true });
  mkdirSync(join(state.dir, 'fast'));
  copyFileSync(buildFastShim(), fast);
  copyFileSync(join(REPO_ROOT, 'integrations/bin/contid-tag.sh'), join(state.dir, 'fast', 'contid-tag.sh'));
  copyFileSync(join(REPO_ROOT, 'integrations/docker/contid-runc'), join(state.dir, 'fast', 'contid-runc'));
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.container.manager': 'libpod', 'io.podman.annotations.autoremove': 'TRUE' } }));
  writeFileSync(fake, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
});
afterAll(() => state.cleanup());

/** The create entry the shim writes when run by a "conmon" with these arguments after its own. */
function createdBy(shim: string, conmonArgs: string[]) {
  rmSync(spool, { recursive: true, force: true });
  mkdirSync(spool, { mode: 0o700 });
  // The caller: argv[0] /usr/bin/conmon, then node's own -e CODE --, then conmon's arguments.
  const code = 'const r = require("child_process").spawnSync(process.env.SHIM, ["create", "--bundle", process.env.B, "--pid-file", process.env.B + "/pid", process.env.ID], { stdio: "inherit" }); process.exit(r.status ?? 1);';
  const r = spawnSync(process.execPath, ['-e', code, '--', ...conmonArgs], {
    argv0: '/usr/bin/conmon',
    env: { PATH: process.env.PATH, SHIM: shim, B: bundle, ID, CONTID_SPOOL_DIR: spool, CONTID_RUNC_CONF: '/nonexistent', CONTID_RUNTIME: fake, CONTID_REQUESTERS_DIR: join(state.dir, 'none') },
    encoding: 'utf8',
  });
  expect([r.status, r.stderr]).toEqual([0, '']);
  const names = readdirSync(spool);
  expect(names).toHaveLength(1);
  const entry = new Spool(spool).read(names[0]!);
  if (!entry) throw new Error(`no entry read from ${names[0]}`);
  return entry;
}

const identify = async (shim: string, conmonArgs: string[]) => {
  const entry = createdBy(shim, conmonArgs);
  const spec = JSON.parse(entry.configText ?? '{}') as OciSpec;
  const ctx = { registry: { findByRuntimeId: () => undefined } } as unknown as IdentifyContext;
  return { entry, identity: await podmanIdentifier(async () => null)(spec, entry, ctx) };
};

/** The bytes of the caller's command line before conmon's own arguments (/usr/bin/conmon -e CODE --). */
let prefixBytes = 0;
const bytesOf = (args: readonly string[]): number => args.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);

/** Podman's arguments to conmon, padded (a long --root in -b) so that byte 4096 of the command line falls `into` bytes into NAME. */
function podmanArgs(name: string, into: number): string[] {
  const head = (pad: string) => ['--api-version', '1', '-c', ID, '-u', ID, '-r', '/usr/bin/runc', '-b', `/var/lib/${pad}/overlay-containers/${ID}/userdata`, '-n'];
  const pad = 4096 - prefixBytes - bytesOf(head('')) - into;
  return [...head('p'.repeat(pad)), name, '--exit-dir', '/run/libpod/exits', '--exit-command', '/usr/bin/podman', '--exit-command-arg', 'cleanup'];
}

describe.each([
  ['the sh shim', () => join(state.dir, 'fast', 'contid-runc')],
  ['the compiled shim', () => fast],
])('%s run by conmon whose command line passes 4096 bytes', (_what, shim) => {
  beforeAll(() => {
    const probe = createdBy(shim(), ['--probe']);
    prefixBytes = bytesOf(probe.callerArgv!.slice(0, probe.callerArgv!.indexOf('--probe')));
  });

  test('a name cut at byte 4096 is not taken for the whole name (web-1-canary is not web-1)', async () => {
    const { entry, identity } = await identify(shim(), podmanArgs('web-1-canary', 5));
    expect(Buffer.from(entry.fields['caller-cmdline']!, 'hex').length).toBe(4096);
    // Podman's, unnamed here: the consumer names it by its short id, not by another's name.
    expect(identity).toEqual({ orchestrator: 'podman' });
  });

  test('a name that ends right at byte 4096 (its NUL the last byte) is kept', async () => {
    const { identity } = await identify(shim(), podmanArgs('web-1', 6));
    expect(identity?.name).toBe('web-1');
  });
});

test('the sh and the compiled shim record the same caller bytes: a newline, "=", "--- end" and 6,000 bytes in its arguments', () => {
  const odd = ['-n', 'a\nb=c', '\n--- end\n', 'é'.repeat(3000)];
  const recorded = [join(state.dir, 'fast', 'contid-runc'), fast].map((shim) => createdBy(shim, odd).fields['caller-cmdline']);
  expect(recorded[0]).toMatch(/^[0-9a-f]{8192}$/);
  expect(recorded[1]).toBe(recorded[0]);
});
