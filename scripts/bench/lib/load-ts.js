// Benchmarks reuse the tests' real-engine harnesses (test/**/*.ts) without a TypeScript build:
// a module and its relative imports are transpiled with swc on load; `@contid/NAME` resolves to
// the built package (pnpm bench builds first), so the bench measures what users run.
const { existsSync, readFileSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');
const Module = require('node:module');

const ROOT = resolve(__dirname, '../../..');
const cache = new Map();

function loadTs(file) {
  const path = resolve(file);
  if (cache.has(path)) return cache.get(path).exports;
  const { code } = require('@swc/core').transformSync(readFileSync(path, 'utf8'), {
    filename: path,
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  });
  const m = new Module(path, module);
  m.filename = path;
  m.paths = Module._nodeModulePaths(ROOT);
  cache.set(path, m);
  const load = m.require.bind(m);
  m.require = (id) => {
    const pkg = /^@contid\/([a-z-]+)$/.exec(id);
    if (pkg) return require(join(ROOT, 'packages', pkg[1], 'dist/index.js'));
    if (id.startsWith('.') && existsSync(join(dirname(path), `${id}.ts`))) return loadTs(join(dirname(path), `${id}.ts`));
    return load(id);
  };
  m._compile(code, path);
  return m.exports;
}

module.exports = { loadTs, ROOT };
