// A recorded-shape audit stream of many short sessions, as auditd's plugin pipe carries it
// (format = string, EOE included): each session is the kernel's renewal event (LOGIN +
// SYSCALL + PROCTITLE + EOE, the shapes this machine's kernel writes). Every `boundEvery`-th
// session is a container: contid's VIRT_CONTROL binding (signed with the bench state dir's
// node key through @contid/core, so the attributor verifies it as it would contid's) and then
// an execve event of that session. `registered` containers were bound before the stream began
// (only the registry knows them) and run an execve every `revisitEvery` sessions, so their
// bindings must survive any number of sessions in between.
//
// Each yielded item is one chunk of lines ending in \n. The expected attribution of every
// execve event is known: `expected` maps its serial to the container name (or null).
const { formatContainerId, signLifecycle } = require('../../../packages/core/dist');

const NODE = '/usr/bin/node';
// Stamped from now on: the registry answers only for events of this boot (docs/tail.md,
// "Attribution"), so a fixed time before the machine's last boot left the registry's
// containers unattributed (1,000 of the replay's 6,000 execs).
const TIME0 = Math.floor(Date.now() / 1000);
const NS = { cgroup: 4026531835, ipc: 4026531839, mnt: 4026531832, net: 4026531833, pid: 4026531836 };

function stamp(serial) {
  // ≈ 20,000 events per second of audit time: realistic timestamps that advance.
  const ms = Math.floor(serial / 20);
  return `${TIME0 + Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}:${serial}`;
}

function renewal(ses, serial, pid) {
  const t = stamp(serial);
  return (
    `type=LOGIN msg=audit(${t}): pid=${pid} uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=${ses} res=1\n` +
    `type=SYSCALL msg=audit(${t}): arch=c000003e syscall=1 success=yes exit=1 a0=15 a1=7fff2944eda8 a2=1 a3=1b6 items=0 ppid=${pid - 1} pid=${pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="sh" exe="/usr/bin/dash" key=(null)\n` +
    `type=PROCTITLE msg=audit(${t}): proctitle=7368002D63002F7573722F6C6F63616C2F62696E2F636F6E7469642D72756E63\n` +
    `type=EOE msg=audit(${t}): \n`
  );
}

function binding(ses, serial, pid, name, contid, signer, boot) {
  const ms = Math.floor(serial / 20);
  const body = signLifecycle(
    { op: 'create', orchestrator: 'docker', name, runtimeId: null, pid, session: ses, contid, parent: null, namespaces: NS, idPrefix: null },
    signer,
    boot,
    (TIME0 + Math.floor(ms / 1000)) * 1000 + (ms % 1000),
  );
  return `type=VIRT_CONTROL msg=audit(${stamp(serial)}): pid=${pid - 1} uid=0 auid=4294967295 ses=4294967295 msg='${body} exe="${NODE}" hostname=? addr=? terminal=? res=success'\n`;
}

function execve(ses, serial, pid, word) {
  const t = stamp(serial);
  return (
    `type=SYSCALL msg=audit(${t}): arch=c000003e syscall=59 success=yes exit=0 a0=55d1c2a0e8a0 a1=55d1c2a0e900 a2=55d1c2a0e918 a3=8 items=2 ppid=${pid} pid=${pid + 1} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=${ses} comm="echo" exe="/usr/bin/echo" key="contid-bench"\n` +
    `type=EXECVE msg=audit(${t}): argc=2 a0="/bin/echo" a1="${word}"\n` +
    `type=CWD msg=audit(${t}): cwd="/"\n` +
    `type=PATH msg=audit(${t}): item=0 name="/bin/echo" inode=1837 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n` +
    `type=PATH msg=audit(${t}): item=1 name="/lib64/ld-linux-x86-64.so.2" inode=2049 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0\n` +
    `type=PROCTITLE msg=audit(${t}): proctitle=2F62696E2F6563686F00${Buffer.from(word).toString('hex').toUpperCase()}\n` +
    `type=EOE msg=audit(${t}): \n`
  );
}

/**
 * @param {object} o
 * @param {number} o.sessions       short sessions in the stream
 * @param {number} o.boundEvery     every Nth session is a container (0: none)
 * @param {object} o.signer         this node's signer (loadOrCreateSigner): the tail under test trusts it
 * @param {string} o.boot           boot id (dashes removed) the bindings name
 * @param {{name: string, contid: bigint, session: number}[]} [o.registered] bound before the stream
 * @param {number} [o.revisitEvery] sessions between execs of the registered containers
 * @param {number} [o.firstSession] first session number
 * @param {number} [o.firstContid]  contids of stream containers count up from here
 * @param {number} [o.linesPerChunk]
 */
function* sessionStream(o) {
  const expected = o.expected ?? new Map();
  const first = o.firstSession ?? 100_000;
  const firstContid = BigInt(o.firstContid ?? 13957774824000);
  const registered = o.registered ?? [];
  let serial = 1_000_000;
  let chunk = '';
  const flushAt = (o.linesPerChunk ?? 256) * 200;
  for (let i = 0; i < o.sessions; i++) {
    const ses = first + i;
    const pid = 10_000 + (i % 4_000_000) * 2;
    chunk += renewal(ses, serial++, pid);
    if (o.boundEvery > 0 && i % o.boundEvery === 0) {
      const name = `b${i}`;
      chunk += binding(ses, serial++, pid, name, firstContid + BigInt(i), o.signer, o.boot);
      expected.set(serial, name);
      chunk += execve(ses, serial++, pid, name);
    }
    if (registered.length > 0 && o.revisitEvery > 0 && i % o.revisitEvery === o.revisitEvery - 1) {
      const r = registered[(i / o.revisitEvery) % registered.length | 0];
      expected.set(serial, r.name);
      chunk += execve(r.session, serial++, pid, r.name);
    }
    if (chunk.length >= flushAt) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

module.exports = { sessionStream, formatContainerId };
