// pnpm bench core: ID allocation throughput with 1, 8 and 64 concurrent processes, and the
// whole-process cost of `contid exec -- true` against plain `true`.
const { spawn, spawnSync } = require('node:child_process');
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const CORE = resolve(__dirname, '../../packages/core/dist/index.js');
const CLI = resolve(__dirname, '../../packages/cli/dist/main.js');

function allocate(stateDir, n) {
  const script = `const {Registry}=require(${JSON.stringify(CORE)});const r=Registry.open(process.argv[1]);` +
    `const t=process.hrtime.bigint();for(let i=0;i<${n};i++)r.ids.allocate();` +
    `process.stdout.write(String(process.hrtime.bigint()-t));r.close();`;
  return new Promise((ok, fail) => {
    const c = spawn(process.execPath, ['-e', script, stateDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', (code) => (code === 0 ? ok(Number(out) / 1e9) : fail(new Error(`allocator exited ${code}`))));
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeRun(argv, env) {
  const t = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { env, stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

exports.main = async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'contid-bench-'));
  const stateDir = join(dir, 'state');
  try {
    const { Registry } = require(CORE);
    Registry.open(stateDir).close();
    console.log('ID allocation (each process opens the registry, then allocates in a loop; SQLite WAL, one transaction per ID)');
    const perProcess = 400;
    for (const procs of [1, 8, 64]) {
      const t = process.hrtime.bigint();
      const loops = await Promise.all(Array.from({ length: procs }, () => allocate(stateDir, perProcess)));
      const wall = Number(process.hrtime.bigint() - t) / 1e9;
      const busiest = Math.max(...loops);
      console.log(
        `  ${String(procs).padStart(2)} processes: ${Math.round((procs * perProcess) / busiest).toLocaleString('en')} IDs/s while allocating` +
          ` (${Math.round((procs * perProcess) / wall).toLocaleString('en')} IDs/s over the wall time incl. Node start-up)`,
      );
    }

    const env = { ...process.env, CONTID_STATE_DIR: stateDir };
    const pairs = 20;
    const plain = [];
    const tagged = [];
    const nodeOnly = [];
    for (let i = 0; i < pairs; i++) {
      plain.push(timeRun(['/bin/true'], env));
      tagged.push(timeRun([process.execPath, CLI, 'exec', '--name', `bench-${i}`, '--', '/bin/true'], env));
      nodeOnly.push(timeRun([process.execPath, '-e', '0'], env));
    }
    const [p, t, n] = [median(plain), median(tagged), median(nodeOnly)];
    console.log(`contid exec -- true vs true (${pairs} alternating runs, medians)`);
    console.log(`  true: ${p.toFixed(1)} ms   contid exec -- true: ${t.toFixed(1)} ms   node -e 0: ${n.toFixed(1)} ms`);
    console.log(`  ratio contid exec / true: ${(t / p).toFixed(1)}x   contid's own work beyond Node start-up: ${(t - n).toFixed(1)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
