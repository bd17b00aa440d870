#!/usr/bin/env node
// Checks packages/audit/test/fixtures/reassembly-cases.json against ausearch itself: each case's
// lines go to a temporary log, `ausearch -if LOG` groups them, and its events (printed
// newest record first) are compared with the case's expectation. Exit 1 on a difference.
// Usage: node scripts/golden/check-reassembly.js   (needs ausearch; no root)
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdtempSync, writeFileSync, rmSync, readFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const { rests, cases } = JSON.parse(readFileSync(join(__dirname, '../../packages/audit/test/fixtures/reassembly-cases.json'), 'utf8'));
const line = ([type, stamp]) => `type=${type} msg=audit(${stamp}${stamp.includes(')') ? '' : `): ${rests[type] ?? 'a=1'}`}`;
const dir = mkdtempSync(join(tmpdir(), 'contid-reassembly-'));
let bad = 0;
try {
  for (const [name, lines, expected] of cases) {
    const log = join(dir, 'case.log');
    writeFileSync(log, lines.map(line).join('\n') + '\n');
    let out = '';
    try {
      out = execFileSync('ausearch', ['-if', log], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (e) {
      out = e.stdout ?? '';
    }
    const events = out.split('----\n').filter(Boolean).map((block) => {
      const recs = block.split('\n').filter((l) => l.startsWith('type=')).reverse();
      const serial = /audit\([^:)]*:?(\d*)/.exec(recs[0])[1] || '0';
      return `${serial}:${recs.map((r) => /^type=(\S+)/.exec(r)[1]).join(',')}`;
    });
    const same = JSON.stringify(events) === JSON.stringify(expected);
    if (!same) bad++;
    console.log(`${same ? 'ok  ' : 'DIFF'} ${name}${same ? '' : `\n     ausearch: ${JSON.stringify(events)}\n     expected: ${JSON.stringify(expected)}`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(bad ? 1 : 0);
