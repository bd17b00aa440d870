import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const PACKAGES = resolve(__dirname, '../..');

/** Every .ts file under a package's src. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** What an import names: a file of this repository (relative or @contid/x), or null for node: and npm modules. */
function resolveImport(from: string, spec: string): string | null {
  const pkg = /^@contid\/([a-z-]+)$/.exec(spec);
  if (pkg) return join(PACKAGES, pkg[1], 'src', 'index.ts');
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec);
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(candidate)) return candidate;
  throw new Error(`${relative(PACKAGES, from)}: cannot resolve "${spec}"`);
}

/**
 * Every import of packages/STAR/src, type-only ones included (a cycle of types still ties the
 * modules' design together, as madge counts them), and require() calls of literal paths (the
 * CLI loads its command modules lazily).
 */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const pkg of readdirSync(PACKAGES)) {
    const src = join(PACKAGES, pkg, 'src');
    if (!existsSync(src)) continue;
    for (const file of sources(src)) {
      const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      const targets = info.importedFiles.map((f) => resolveImport(file, f.fileName)).filter((t): t is string => t !== null);
      graph.set(file, targets);
    }
  }
  return graph;
}

/** One cycle per strongly connected component of more than one module (Tarjan), or a self-import. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('import graph of packages/*/src', () => {
  const graph = importGraph();

  it('reads every package (the graph is not empty by accident)', () => {
    const packages = new Set([...graph.keys()].map((f) => relative(PACKAGES, f).split('/')[0]));
    expect([...packages].sort()).toEqual(expect.arrayContaining(['audit', 'cli', 'core', 'docker', 'kubernetes', 'lxc', 'oci', 'podman', 'service', 'systemd']));
    expect(graph.get(join(PACKAGES, 'cli', 'src', 'commands', 'doctor.ts'))).toContain(join(PACKAGES, 'cli', 'src', 'adapters.ts'));
  });

  it('finds a cycle when there is one (the detector works)', () => {
    expect(cycles(new Map([['/a', ['/b']], ['/b', ['/c']], ['/c', ['/a']], ['/d', ['/a']]]))).toEqual([['/a', '/b', '/c']]);
    expect(cycles(new Map([['/a', ['/b']], ['/b', []]]))).toEqual([]);
  });

  it('has no cycle, type-only imports included', () => {
    expect(cycles(graph).map((c) => c.map((f) => relative(PACKAGES, f)))).toEqual([]);
  });

  it('layers: core imports no other package, no package imports the CLI', () => {
    const packageOf = (f: string) => relative(PACKAGES, f).split('/')[0];
    const edges = [...graph].flatMap(([from, tos]) => tos.map((to) => [packageOf(from), packageOf(to)] as const)).filter(([a, b]) => a !== b);
    expect(edges.filter(([a]) => a === 'core')).toEqual([]);
    expect(edges.filter(([, b]) => b === 'cli')).toEqual([]);
  });
});
