/**
 * The body of the worker thread that reads the kernel audit multicast group. It is kept as
 * source text (run with `new Worker(code, { eval: true })`) so it works the same from the
 * built dist and from the TypeScript sources under Jest, without a separate build output.
 *
 * The worker blocks in recv() (with a 200 ms timeout so it notices a stop request), drains
 * whatever else is queued without blocking, and posts batches of auditd-shaped log lines.
 * `shared[0]` is the stop flag; `shared[1]` counts lines posted but not yet taken by the
 * main thread: when it reaches `maxInFlight` the worker keeps reading (so the kernel's
 * socket buffer never overflows) but drops and counts, so memory stays bounded.
 */
export const MULTICAST_WORKER_SOURCE = String.raw`(function main() {
const { parentPort, workerData } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const { maxInFlight, rcvbuf, batchSize } = workerData;
const shared = new Int32Array(workerData.shared);

const AF_NETLINK = 16, SOCK_RAW = 3, NETLINK_AUDIT = 9, AUDIT_NLGRP_READLOG = 1;
const SOL_SOCKET = 1, SO_RCVBUF = 8, SO_RCVTIMEO = 20, SO_RCVBUFFORCE = 33;
const MSG_DONTWAIT = 0x40, EAGAIN = 11, EINTR = 4, ENOBUFS = 105;
const NLMSG_HDRLEN = 16;

const libc = koffi.load('libc.so.6');
const socket = libc.func('int socket(int, int, int)');
const bind = libc.func('int bind(int, const void *, uint32_t)');
const setsockopt = libc.func('int setsockopt(int, int, int, const void *, uint32_t)');
const recv = libc.func('intptr_t recv(int, _Out_ void *, size_t, int)');
const close = libc.func('int close(int)');
const strerror = libc.func('const char *strerror(int)');

// libaudit's own table, so type names match auditd's log exactly (UNKNOWN[n] when unknown).
let typeName = (t) => 'UNKNOWN[' + t + ']';
try {
  const libaudit = koffi.load('libaudit.so.1');
  const toName = libaudit.func('const char *audit_msg_type_to_name(int)');
  const cache = new Map();
  typeName = (t) => {
    let n = cache.get(t);
    if (n === undefined) { n = toName(t) || 'UNKNOWN[' + t + ']'; cache.set(t, n); }
    return n;
  };
} catch { /* fall back to numeric names */ }

function fail(what) {
  const e = koffi.errno();
  parentPort.postMessage({ kind: 'error', message: what + ': ' + strerror(e), errno: e });
}

const fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
if (fd < 0) { fail('socket(NETLINK_AUDIT)'); return; }
const size = Buffer.alloc(4); size.writeInt32LE(rcvbuf);
// SO_RCVBUFFORCE needs CAP_NET_ADMIN; fall back to SO_RCVBUF (capped by rmem_max).
if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4) !== 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
const tv = Buffer.alloc(16); tv.writeBigInt64LE(0n, 0); tv.writeBigInt64LE(200000n, 8);
setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
const addr = Buffer.alloc(12);
addr.writeUInt16LE(AF_NETLINK, 0); addr.writeUInt32LE(0, 4); addr.writeUInt32LE(AUDIT_NLGRP_READLOG, 8);
if (bind(fd, addr, 12) !== 0) { fail('bind(AUDIT_NLGRP_READLOG)'); close(fd); return; }
parentPort.postMessage({ kind: 'ready' });

const buf = Buffer.alloc(10000);
let lines = [], kernelOverruns = 0, dropped = 0;
function flush() {
  if (lines.length === 0 && kernelOverruns === 0 && dropped === 0) return;
  Atomics.add(shared, 1, lines.length);
  parentPort.postMessage({ kind: 'batch', lines, kernelOverruns, dropped });
  lines = []; kernelOverruns = 0; dropped = 0;
}
while (Atomics.load(shared, 0) === 0) {
  const n = Number(recv(fd, buf, buf.length, lines.length === 0 ? 0 : MSG_DONTWAIT));
  if (n < 0) {
    const e = koffi.errno();
    if (e === ENOBUFS) { kernelOverruns++; continue; }
    if (e === EAGAIN || e === EINTR) { flush(); continue; }
    flush(); fail('recv'); break;
  }
  if (n < NLMSG_HDRLEN) continue;
  const len = Math.min(buf.readUInt32LE(0), n);
  const type = buf.readUInt16LE(4);
  let end = len;
  while (end > NLMSG_HDRLEN && (buf[end - 1] === 0 || buf[end - 1] === 10)) end--;
  if (Atomics.load(shared, 1) + lines.length >= maxInFlight) dropped++;
  else lines.push('type=' + typeName(type) + ' msg=' + buf.toString('latin1', NLMSG_HDRLEN, end));
  if (lines.length >= batchSize) flush();
}
flush();
close(fd);
parentPort.postMessage({ kind: 'closed' });
})();
`;
