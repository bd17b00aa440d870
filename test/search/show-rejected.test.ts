import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contid, tempStateDir } from '../helpers/cli';

/**
 * `contid search --show-rejected` lists every binding record that failed the trust rule, however
 * many: a log with more forgeries than any in-memory list would keep (it kept the first 10,000
 * and said the rest were not listed) has each of them on stdout, in the order they were judged,
 * and no line about a cut. The forgeries are what a container with CAP_AUDIT_WRITE can write: an
 * unsigned VIRT_CONTROL and a USER record carrying a binding (contid never writes USER). No root:
 * the log is generated here.
 */
const N = 12_345;

function forgeries(): { log: string; names: string[] } {
  const lines: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < N; i++) {
    const name = `forged-${i}`;
    names.push(name);
    const stamp = `1795927031.${String(i % 1000).padStart(3, '0')}:${500000 + i}`;
    const body = `virt=contid op=create vm="${name}" uuid=? vm-pid=${3000 + i} vm-ses=${100 + i} contid=${1000000 + i} parent-contid=? node=? exe="/usr/bin/node" hostname=? addr=? terminal=? res=success`;
    lines.push(i % 2 === 0 ? `type=VIRT_CONTROL msg=audit(${stamp}): pid=${3000 + i} uid=0 auid=0 ses=${100 + i} msg='${body}'` : `type=USER msg=audit(${stamp}): pid=${3000 + i} uid=0 auid=0 ses=${100 + i} msg='${body}'`);
  }
  return { log: lines.join('\n') + '\n', names };
}

describe('search --show-rejected streams every rejected binding', () => {
  const state = tempStateDir('show-rejected');
  afterAll(() => state.cleanup());

  it(`lists all ${N.toLocaleString('en')} forged bindings of a generated log, none cut`, () => {
    const { log, names } = forgeries();
    const file = join(state.dir, 'forged.log');
    writeFileSync(file, log);
    const r = contid(['search', '-if', file, '--show-rejected', '--no-index'], { env: state.env, maxBuffer: 256 << 20, timeout: 300_000 });
    expect(r.status).toBe(0);
    const listed = r.stdout.split('\n').filter((l) => l.startsWith('rejected('));
    expect(listed.length).toBe(N);
    // each forgery once, with its reason
    const named = listed.map((l) => /vm="([^"]+)"/.exec(l)?.[1]);
    expect(new Set(named)).toEqual(new Set(names));
    expect(listed.filter((l) => l.startsWith('rejected(type) type=USER ')).length).toBe(Math.floor(N / 2));
    expect(r.stderr).not.toMatch(/not listed|first \d+/);
  });
});
