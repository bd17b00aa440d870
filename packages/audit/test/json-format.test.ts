import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { formatContainerId, parseContainerId } from '@contid/core';
import type { AttributedContainer } from '../src/attributor';
import { DOCUMENT_VERSION, containerJson, formatAuditEvent } from '../src/format';
import type { AuditEvent } from '../src/reassembler';
import { fieldValue } from '../src/record';
import { bytesToText } from '../src/safe-text';
import { eventsOf } from './events-of';

/**
 * --format json as it was written before its record objects were built in a loop: the same
 * document, byte for byte, whatever the field names (array indexes, which objects order
 * first; __proto__, which must stay an own property) and values.
 */
const PLAIN = { escapeControls: false };
const reference = (event: AuditEvent, chain: AttributedContainer[]): string =>
  JSON.stringify({
    version: DOCUMENT_VERSION,
    time: new Date(event.timeMs).toISOString(),
    serial: Number.isSafeInteger(Number(event.serialText)) ? Number(event.serialText) : event.serialText,
    node: event.node,
    container: containerJson(chain[0] ?? null),
    parents: chain.slice(1).map((p) => formatContainerId(p.contid)),
    records: event.records.map((r) => ({
      type: r.type,
      fields: Object.fromEntries([...r.fields].map(([k, v]) => [bytesToText(k, PLAIN), fieldValue(v, k, r.type) ?? v])),
      msg: r.body !== null ? Object.fromEntries([...r.msg].map(([k, v]) => [bytesToText(k, PLAIN), fieldValue(v, k, r.type) ?? v])) : undefined,
      raw: bytesToText(r.raw, PLAIN),
    })),
  }) + '\n';

const web: AttributedContainer = { contid: parseContainerId('300'), name: 'web', orchestrator: 'docker', runtimeId: null, parent: parseContainerId('200'), image: 'img:1', labels: { '1': 'a', b: 'c' } };
const parent: AttributedContainer = { contid: parseContainerId('200'), name: 'pod', orchestrator: 'kubernetes', runtimeId: null, parent: null, image: null };

describe('--format json', () => {
  test('every fixture event gives the reference document', () => {
    const dir = join(__dirname, 'fixtures');
    let n = 0;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.log'))) {
      for (const e of eventsOf(readFileSync(join(dir, f), 'latin1').split('\n'))) {
        expect(formatAuditEvent('json', e, [web, parent])).toBe(reference(e, [web, parent]));
        n++;
      }
    }
    expect(n).toBeGreaterThan(100);
  });

  test('any field names and values: the reference document (array-index names first, __proto__ an own field)', () => {
    const name = fc.oneof(fc.constantFrom('__proto__', 'constructor', '0', '1', '12', '4294967295', 'a0', 'a1', 'exe', 'comm', 'proctitle', 'name'), fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/));
    const value = fc.oneof(fc.constantFrom('"x y"', '2F62696E', 'ABC', '(null)', '"\u00e9\u00ff"', '""'), fc.stringMatching(/^[!-~]{0,8}$/).filter((v) => !v.includes("'")));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), fc.array(fc.tuple(name, value), { maxLength: 4 }), (fields, msg) => {
        const f = fields.map(([k, v]) => `${k}=${v}`).join(' ');
        const body = msg.length > 0 ? ` msg='${msg.map(([k, v]) => `${k}=${v}`).join(' ')}'` : '';
        const [e] = eventsOf([`type=USER msg=audit(1795926138.739:7): pid=1 ${f}${body}`]);
        expect(formatAuditEvent('json', e, [])).toBe(reference(e, []));
        expect(Object.getPrototypeOf(JSON.parse(formatAuditEvent('json', e, [])).records[0].fields)).toBe(Object.prototype);
      }),
      { numRuns: 300 },
    );
  });

  test('any bytes in values, node and container names (quotes, backslashes, controls, invalid UTF-8): the reference document', () => {
    // latin1 text as the log reader makes it, one char per byte: everything JSON escapes, and bytes that are not UTF-8
    const bytes = fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 12 }).map((b) => Buffer.from(b).toString('latin1').replace(/[\n']/g, ''));
    const text = fc.oneof(bytes, fc.string({ maxLength: 8 }));
    fc.assert(
      fc.property(bytes, bytes, fc.option(fc.stringMatching(/^[!-~]{1,8}$/), { nil: null }), text, text, (v1, v2, node, name, label) => {
        const line = `${node === null ? '' : `node=${node} `}type=USER msg=audit(1795926138.739:7): pid=1 exe="${v1}" comm=${v2} msg='op=x acct="${v2}" ${v1}'`;
        const [e] = eventsOf([line]);
        const chain: AttributedContainer[] = [{ ...web, name, orchestrator: label, labels: { [label]: name, '7': label } }, parent];
        const text = formatAuditEvent('json', e, chain);
        expect(text).toBe(reference(e, chain));
        expect(() => JSON.parse(text)).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });
  test('kernel records, written from their text: any names, values and bytes give the reference document', () => {
    // no msg='…' body: the fields go into the document straight from the line (json-event.ts)
    const name = fc.oneof(fc.constantFrom('__proto__', '0', '7', 'a0', 'a1', 'a2[0]', 'exe', 'comm', 'proctitle', 'name', 'key', 'ses', 'argc'), fc.stringMatching(/^[A-Za-z0-9_-]{1,6}$/));
    const hex = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }).map((b) => Buffer.from(b).toString('hex').toUpperCase());
    const bytes = fc.array(fc.integer({ min: 1, max: 255 }), { maxLength: 10 }).map((b) => Buffer.from(b).toString('latin1').replace(/[\n']/g, ''));
    const value = fc.oneof(hex, bytes, bytes.map((b) => `"${b}"`), fc.constantFrom('"x y"', '2F62696E', '(null)', '""', '"', 'ab"c', '\\x', '41"'));
    const type = fc.constantFrom('SYSCALL', 'EXECVE', 'PATH', 'PROCTITLE', 'CWD', 'SOCKADDR');
    fc.assert(
      fc.property(type, fc.array(fc.tuple(name, value), { maxLength: 10 }), fc.option(bytes, { nil: null }), (t, fields, tail) => {
        const line = `type=${t} msg=audit(1795926138.739:7): ${fields.map(([k, v]) => `${k}=${v}`).join(' ')}${tail === null ? '' : ` ${tail}`}`;
        const [e] = eventsOf([line]);
        if (!e) return;
        const text = formatAuditEvent('json', e, [web, parent]);
        expect(text).toBe(reference(e, [web, parent]));
        expect(() => JSON.parse(text)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});
