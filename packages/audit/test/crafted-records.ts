import { TrustStore, ephemeralSigner, parseContainerId, signLifecycle } from '@contid/core';

/*
 * Records crafted in the shapes this machine's kernel and auditd write (see fixtures), with
 * genuine bindings signed by two nodes' keys, for the outside attacks' reproductions.
 * `node` '' writes a line without a `node=` prefix.
 */
export const N1 = ephemeralSigner('n1');
export const N2 = ephemeralSigner('n2');
export const trust = TrustStore.empty();
trust.add(N1.publicEntry);
trust.add(N2.publicEntry);
const BOOT = '54f0d7e8a80944f09754f3cc4a654b57';
export const T = 1795000000;

type Life = Parameters<typeof signLifecycle>[0];
const life = (o: Partial<Life>): Life => ({ op: 'create', orchestrator: 'docker', name: 'A', runtimeId: null, pid: 10, session: 5, contid: parseContainerId('100'), parent: null, namespaces: {}, idPrefix: null, ...o }) as Life;
const pfx = (node: string): string => (node ? `node=${node} ` : '');
/** A binding record contid writes, signed by `node`'s key (n1's for an unprefixed line), sent from session `sender`. */
export const bind = (node: string, stamp: string, l: Partial<Life>, sender = 4294967295): string =>
  `${pfx(node)}type=VIRT_CONTROL msg=audit(${stamp}): pid=4000 uid=0 auid=0 ses=${sender} msg='${signLifecycle(life(l), node === 'n2' ? N2 : N1, BOOT, Math.round(parseFloat(stamp) * 1000))} exe="/usr/bin/node" hostname=? addr=? terminal=? res=success'`;
export const login = (node: string, stamp: string, ses: number): string =>
  `${pfx(node)}type=LOGIN msg=audit(${stamp}): pid=${ses} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1`;
export const sys = (node: string, stamp: string, ses: number, exe: string): string =>
  `${pfx(node)}type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 items=1 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="x" exe="${exe}" key="k"`;
export const title = (node: string, stamp: string): string => `${pfx(node)}type=PROCTITLE msg=audit(${stamp}): proctitle=6C73`;
