#!/usr/bin/env node
// `pnpm bench [name]`: runs scripts/bench/<name>.js (default: core). Each benchmark prints
// ratios against the peer tool measured in the same run.
const { existsSync, readdirSync } = require('node:fs');
const { join } = require('node:path');

const name = process.argv[2] || 'core';
const file = join(__dirname, `${name}.js`);
if (!/^[a-z-]+$/.test(name) || !existsSync(file)) {
  const known = readdirSync(__dirname).filter((f) => f.endsWith('.js') && f !== 'run.js').map((f) => f.slice(0, -3));
  process.stderr.write(`bench: unknown benchmark "${name}"; choose one of: ${known.join(', ')}\n`);
  process.exit(2);
}
Promise.resolve(require(file).main(process.argv.slice(3))).catch((e) => {
  process.stderr.write(`bench ${name}: ${e.message}\n`);
  process.exit(1);
});
