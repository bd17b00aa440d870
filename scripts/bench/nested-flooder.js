#!/usr/bin/env node
// For `pnpm bench service`: a container that floods its own nested channel. Tags itself through
// the host channel (renewed session, so it is inside the container the channel belongs to),
// prints its contid, reads the channel's socket path on stdin, then floods it from CONNECTIONS
// connections (half never read their replies) until killed. argv: HOST_SOCKET NAME CONNECTIONS
const net = require('node:net');
const { resolve } = require('node:path');
const { tagSelfViaService } = require(resolve(__dirname, '../../packages/service/dist/index.js'));

const [hostSocket, name, connections] = process.argv.slice(2);

function flood(socket, lines, read) {
  const s = net.connect(socket);
  s.on('error', () => undefined);
  if (!read) s.pause();
  let sent = 0;
  const pump = () => {
    while (s.write(lines[sent++ % lines.length]));
    s.once('drain', pump);
  };
  s.once('connect', pump);
}

tagSelfViaService(hostSocket, { orchestrator: 'bench', name, parent: null }).then((r) => {
  process.stdout.write(`${r.contid}\n`);
  process.stdin.once('data', (d) => {
    const socket = d.toString().trim();
    const lines = [
      JSON.stringify({ v: 1, op: 'show', ref: r.contid }) + '\n',
      JSON.stringify({ v: 1, op: 'create', orchestrator: 'x', name: 'x', target: 'peer' }) + '\n',
      '{"v":1,\n',
    ];
    for (let i = 0; i < Number(connections); i++) flood(socket, lines, i % 2 === 0);
  });
});
