import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { peerCredentials, peerPidfd, pidfdProcessExists } from '@contid/service';

// SO_PEERPIDFD names the process that connected, not whatever holds its pid later: the docker
// front believes /proc/<pid> only while that process exists (see DockerFront.identify).
describe('the peer process of a unix socket, pinned by SO_PEERPIDFD', () => {
  test('exists while the client runs; no longer once it exited and was reaped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'contid-pidfd-'));
    const path = join(dir, 's');
    let accept!: (s: net.Socket) => void;
    const accepted = new Promise<net.Socket>((resolve) => (accept = resolve));
    const server = net.createServer((s) => {
      server.close();
      accept(s);
    });
    await new Promise<void>((listening) => server.listen(path, listening));
    // A client that connects, says so, and exits when told (its stdin closes).
    const child = spawn(process.execPath, ['-e', `const s = require('net').connect(${JSON.stringify(path)}, () => process.stdout.write('up')); process.stdin.on('end', () => process.exit(0)); process.stdin.resume();`], { stdio: ['pipe', 'pipe', 'inherit'] });
    const socket = await accepted;
    try {
      expect(peerCredentials(socket).pid).toBe(child.pid);
      const pidfd = peerPidfd(socket);
      if (pidfd === null) return; // a kernel before 6.5: nothing to pin (DockerFront then reads /proc unverified)
      try {
        expect(pidfdProcessExists(pidfd)).toBe(true);
        const exited = new Promise((r) => child.once('exit', r));
        child.stdin!.end();
        await exited;
        // Node reaps the child before 'exit' is emitted.
        expect(pidfdProcessExists(pidfd)).toBe(false);
      } finally {
        closeSync(pidfd);
      }
      // Asked anew after the reaping, the kernel gives no pidfd or one for a process that is gone.
      let again: number | null = null;
      try {
        again = peerPidfd(socket);
      } catch {
        again = null;
      }
      if (again !== null) {
        expect(pidfdProcessExists(again)).toBe(false);
        closeSync(again);
      }
    } finally {
      socket.destroy();
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
