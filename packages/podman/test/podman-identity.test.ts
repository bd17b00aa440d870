import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IdentifyContext } from '@contid/oci';
import { parseSpoolEntry } from '@contid/oci';
import { conmonName, conmonOfPodman, isPodmanSpec, podmanIdentifier, podmanRoots } from '@contid/podman';

describe('podman identity without Podman', () => {
  test('storage root and run root from the bundle and pid file paths', () => {
    const id = 'a1b2c3';
    expect(podmanRoots({ id, bundle: `/var/lib/containers/storage/overlay-containers/${id}/userdata`, pidFile: `/run/containers/storage/overlay-containers/${id}/userdata/pidfile` })).toEqual({
      root: '/var/lib/containers/storage',
      runroot: '/run/containers/storage',
    });
    expect(podmanRoots({ id, bundle: '/run/containerd/io.containerd.runtime.v2.task/k8s.io/a1b2c3', pidFile: null })).toBeNull();
    // runc's alphabet allows . and +: taken literally, not as a pattern
    expect(podmanRoots({ id: 'a.b', bundle: '/s/overlay-containers/axb/userdata', pidFile: null })).toBeNull();
  });

  test('the name conmon was given (-n), read from the parent of the init; null when the parent is not conmon', () => {
    const proc = mkdtempSync(join(tmpdir(), 'contid-podman-proc-'));
    try {
      const pidFile = join(proc, 'pidfile');
      writeFileSync(pidFile, '123');
      mkdirSync(join(proc, '123'));
      writeFileSync(join(proc, '123', 'status'), 'Name:\tsh\nPPid:\t100\n');
      mkdirSync(join(proc, '100'));
      writeFileSync(join(proc, '100', 'cmdline'), ['/usr/bin/conmon', '--api-version', '1', '-c', 'a1b2', '-n', 'web', '-r', '/x/contid-runc', ''].join('\0'));
      expect(conmonName(pidFile, proc)).toBe('web');
      writeFileSync(join(proc, '100', 'cmdline'), ['/usr/bin/containerd-shim-runc-v2', '-n', 'web', ''].join('\0'));
      expect(conmonName(pidFile, proc)).toBeNull();
      expect(conmonName(null, proc)).toBeNull();
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  test('a conmon Podman started names podman as its exit command; CRI-O’s conmon does not (an image cannot change either)', () => {
    expect(conmonOfPodman(['/usr/bin/conmon', '-c', 'a1', '-n', 'web', '--exit-command', '/usr/bin/podman', '--exit-command-arg', 'cleanup'])).toBe(true);
    expect(conmonOfPodman(['/usr/bin/conmon', '-c', 'a1', '-n', 'k8s_web', '--exit-dir', '/var/run/crio/exits', '--socket-dir-path', '/var/run/crio'])).toBe(false);
    expect(conmonOfPodman(['/usr/bin/conmon', '--exit-command', '/usr/bin/podman-evil'])).toBe(false);
    expect(conmonOfPodman(null)).toBe(false);
  });

  test('a recorded conmon command line cut before --exit-command: the live conmon says Podman (an image hid its annotation)', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'contid-podman-proc-'));
    try {
      const full = ['/usr/bin/conmon', '--api-version', '1', '-c', 'a1b2', '-n', 'web', '-b', '/very/long/bundle', '--exit-command', '/usr/bin/podman', '--exit-command-arg', 'cleanup'];
      // as the shim recorded it: whole arguments up to where its 4096 bytes ended
      const cut = full.slice(0, 9);
      const pidFile = join(proc, 'pidfile');
      writeFileSync(pidFile, '123');
      mkdirSync(join(proc, '123'));
      writeFileSync(join(proc, '123', 'status'), 'Name:\tsh\nPPid:\t100\n');
      mkdirSync(join(proc, '100'));
      writeFileSync(join(proc, '100', 'cmdline'), [...full, ''].join('\0'));
      const entry = parseSpoolEntry(
        '9-create-1.entry',
        `contid-spool 1\nop=create\nsubcommand=create\nid=a1b2\nbundle=/b/a1b2\npidfile=${pidFile}\ncaller-cmdline=${Buffer.from(cut.join('\0') + '\0').toString('hex')}\n--- end\n`,
      );
      const spec = { annotations: { 'io.container.manager': 'cri-o', 'io.podman.annotations.autoremove': 'TRUE' } };
      const ctx = { registry: { findByRuntimeId: () => undefined } } as unknown as IdentifyContext;
      const identify = podmanIdentifier(async () => null, 1000, proc);
      expect(await identify(spec, entry, ctx)).toEqual({ orchestrator: 'podman', name: 'web' });
      // conmon gone as well: the record alone cannot say Podman
      rmSync(join(proc, '100'), { recursive: true });
      expect(await identify(spec, entry, ctx)).toBeNull();
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  test('only config.json files Podman wrote are Podman’s', () => {
    expect(isPodmanSpec({ annotations: { 'io.container.manager': 'libpod' } })).toBe(true);
    expect(isPodmanSpec({ annotations: { 'io.kubernetes.cri.sandbox-id': 'x' } })).toBe(false);
    expect(isPodmanSpec({})).toBe(false);
  });
});
