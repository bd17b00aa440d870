import { spawnSync } from 'node:child_process';
import { closeSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { addExecveRule, deleteExecveRule, freezeSince, logMark, waitForAudit } from '../helpers/audit';
import { contid, tempStateDir, uniqueName } from '../helpers/cli';
import { artefactPath, openBrowser, type Browser } from '../helpers/browser';
import { Registry, loadOrCreateSigner, parseContainerId, signLifecycle, type LifecycleRecord } from '@contid/core';

const hex = (s: string): string => Buffer.from(s).toString('hex').toUpperCase();

/**
 * A deterministic log of `events` events in one container (session 4242, bound by a trusted
 * binding record) from a tree of processes: execs, writes, connects, failures, spread over an
 * hour. No randomness: the same bytes every run.
 */
function generateLog(path: string, name: string, events: number, stateDir: string): void {
  const fd = openSync(path, 'w');
  let buf: string[] = [];
  const out = (s: string): void => {
    buf.push(s);
    if (buf.length > 4096) flush();
  };
  const flush = (): void => {
    writeSync(fd, buf.join(''));
    buf = [];
  };
  let serial = 5000;
  const t0 = 1795000000000;
  const stamp = (ms: number): string => `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}:${serial}`;
  out(`type=LOGIN msg=audit(${stamp(t0)}): pid=100 uid=0 old-auid=4294967295 auid=0 tty=(none) old-ses=4294967295 ses=4242 res=1\n`);
  serial++;
  // signed with this state directory's node key, as contid signs its bindings
  const signer = loadOrCreateSigner(stateDir, 'report-test-node', null);
  const life: LifecycleRecord = { op: 'create', orchestrator: 'contid', name, runtimeId: null, pid: 100, session: 4242, contid: parseContainerId('777000'), parent: null, namespaces: {}, idPrefix: null };
  const text = signLifecycle(life, signer, 'a'.repeat(32), t0);
  out(`type=VIRT_CONTROL msg=audit(${stamp(t0)}): pid=100 uid=0 auid=0 ses=4294967295 msg='${text} exe="${process.execPath}" hostname=? addr=? terminal=? res=success'\n`);
  const bins = ['/usr/bin/sh', '/usr/bin/ls', '/usr/bin/cat', '/usr/bin/python3.11', '/usr/sbin/nginx'];
  for (let i = 0; i < events; i++) {
    serial++;
    const ms = t0 + Math.floor((i * 3_600_000) / events);
    // 300 processes: pid 1000 the root, each next one a child of (pid-1000)/3
    const p = i % 300;
    const pid = 1000 + p;
    const ppid = p === 0 ? 100 : 1000 + Math.floor((p - 1) / 3);
    const bin = bins[p % bins.length];
    const common = `items=1 ppid=${ppid} pid=${pid} auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4242 comm="${bin.split('/').pop()}" exe="${bin}" key=(null)`;
    const s = stamp(ms);
    switch (i % 4) {
      case 0:
        out(`type=SYSCALL msg=audit(${s}): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=4 ${common}\ntype=EXECVE msg=audit(${s}): argc=2 a0="${bin.split('/').pop()}" a1="-x${i % 97}"\ntype=PROCTITLE msg=audit(${s}): proctitle=${hex(bin)}\n`);
        break;
      case 1:
        out(`type=SYSCALL msg=audit(${s}): arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=241 a3=1b6 ${common}\ntype=CWD msg=audit(${s}): cwd="/srv"\ntype=PATH msg=audit(${s}): item=0 name="/srv/data-${i % 113}" inode=${i % 113} dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE\ntype=PROCTITLE msg=audit(${s}): proctitle=${hex(bin)}\n`);
        break;
      case 2:
        out(`type=SYSCALL msg=audit(${s}): arch=c000003e syscall=42 success=yes exit=0 a0=3 a1=1 a2=10 a3=0 ${common}\ntype=SOCKADDR msg=audit(${s}): saddr=0200${(8000 + (i % 50)).toString(16).padStart(4, '0').toUpperCase()}7F0000010000000000000000\ntype=PROCTITLE msg=audit(${s}): proctitle=${hex(bin)}\n`);
        break;
      default:
        out(`type=SYSCALL msg=audit(${s}): arch=c000003e syscall=257 success=no exit=-2 a0=ffffff9c a1=1 a2=0 a3=0 ${common}\ntype=CWD msg=audit(${s}): cwd="/srv"\ntype=PATH msg=audit(${s}): item=0 name="/etc/missing-${i % 7}" nametype=UNKNOWN\ntype=PROCTITLE msg=audit(${s}): proctitle=${hex(bin)}\n`);
    }
  }
  flush();
  closeSync(fd);
}

/**
 * The HTML page of `contid report --html` in real headless Chromium (Debian's, driven by
 * playwright-core): it loads with no console error and no request to anywhere, its timeline
 * shows as many events as ausearch finds for the container, its row links show the raw
 * records, and it stays responsive with 100,000 events. Screenshots go to ARTEFACT_DIR.
 */
describe('contid report --html in headless Chromium', () => {
  const state = tempStateDir('report-page');
  let browser: Browser;
  beforeAll(async () => {
    browser = await openBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    state.cleanup();
  });

  /** Opens a page, failing on any request other than the file itself. */
  async function load(file: string): Promise<string[]> {
    const requests: string[] = [];
    const onRequest = (r: { url(): string }): void => {
      if (r.url() !== `file://${file}`) requests.push(r.url());
    };
    browser.page.on('request', onRequest);
    await browser.page.goto(`file://${file}`, { timeout: 120_000 });
    await browser.page.waitForSelector('body[data-ready="true"]', { timeout: 120_000 });
    browser.page.off('request', onRequest);
    return requests;
  }

  it('a known container: identity, the events ausearch finds, rows linking to their raw records', async () => {
    const log = join(state.dir, 'audit.log');
    const name = uniqueName('rpt-page');
    const rule = uniqueName('contid-rpt-page');
    const mark = logMark();
    addExecveRule(rule);
    try {
      const r = contid(['exec', '--name', name, '--', 'sh', '-c', 'ls / >/dev/null; cat /etc/hostname >/dev/null; id >/dev/null; true'], { env: state.env });
      expect([r.status, r.stderr]).toEqual([0, '']);
    } finally {
      deleteExecveRule(rule);
    }
    const reg = Registry.open(state.env.CONTID_STATE_DIR!, { readonly: true });
    const c = reg.find(name)!;
    const sessions = reg.bindings(c.contid).map((b) => b.session!).filter((s) => s !== null);
    reg.close();
    await waitForAudit(['--session', String(sessions[0]), '-m', 'EXECVE'], (l) => l.some((x) => x.includes('a0="id"')));
    freezeSince(mark, log);
    // ausearch's own event count for the container's sessions (its `----` separators)
    const expected = sessions
      .map((s) => spawnSync('ausearch', ['--session', String(s), '-if', log], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout.match(/^----$/gm)?.length ?? 0)
      .reduce((a, b) => a + b, 0);
    expect(expected).toBeGreaterThan(3);

    const file = join(state.dir, 'page.html');
    const made = contid(['report', '-if', log, '-c', name, '--html', file], { env: state.env });
    expect(made.status).toBe(0);
    expect(made.stderr).toContain(`contid: wrote ${file}\n`);
    expect(await load(file)).toEqual([]);
    const { page } = browser;
    expect(await page.getAttribute('#timeline-count', 'data-count')).toBe(String(expected));
    expect(await page.textContent('table.id')).toContain(name);
    await page.screenshot({ path: artefactPath('report-page-known.png') });
    // the row of /usr/bin/id links to its raw records
    const link = page.locator('#executables tr', { hasText: '/usr/bin/id' }).locator('a.records');
    await link.click();
    await page.waitForSelector('#details pre');
    expect(await page.textContent('#details')).toMatch(/type=EXECVE .*a0="id"/);
    expect(browser.errors).toEqual([]);
  });

  it('stays responsive with 100,000 events: loads, draws them all, handles a click and a zoom promptly', async () => {
    const name = 'big';
    const log = join(state.dir, 'big.log');
    // its own state directory: the node key that signs the generated binding is trusted there
    const env = { ...state.env, CONTID_STATE_DIR: join(state.dir, 'big-node') };
    generateLog(log, name, 100_000, env.CONTID_STATE_DIR);
    const file = join(state.dir, 'big.html');
    const made = contid(['report', '-if', log, '-c', name, '--html', file, '--quiet'], { env, timeout: 300_000 });
    expect([made.status, made.stderr]).toEqual([0, `contid: wrote ${file}\n`]);
    expect(statSync(file).size).toBeLessThan(64 << 20);
    expect(await load(file)).toEqual([]);
    const { page } = browser;
    // the 100,000 generated events and the LOGIN that opened the session
    expect(await page.getAttribute('#timeline-count', 'data-count')).toBe('100001');
    await page.screenshot({ path: artefactPath('report-page-100k.png') });
    // Responsiveness: from a click on the timeline to its records shown, measured in the page
    // (a generous bound: a loaded 2-core machine, but a frozen page would take far longer).
    const box = (await page.locator('#timeline').boundingBox())!;
    for (const [dx, dy] of [[0.5, 0.1], [0.8, 0.05]]) {
      const before = await page.evaluate(() => performance.now());
      await page.mouse.click(box.x + box.width * dx, box.y + Math.max(3, box.height * dy));
      await page.waitForFunction((t) => ((window as unknown as { lastClickHandledAt?: number }).lastClickHandledAt ?? 0) > t, before, { timeout: 10_000 });
      const handled = await page.evaluate(() => (window as unknown as { lastClickHandledAt: number }).lastClickHandledAt);
      expect(handled - before).toBeLessThan(2_000);
      expect(Number(await page.getAttribute('#details', 'data-shown'))).toBe(1);
    }
    // zoom in twice and back: each redraw is quick enough that the page answers at once after
    for (const id of ['#zoom-in', '#zoom-in', '#zoom-reset']) {
      const t = Date.now();
      await page.click(id);
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
      expect(Date.now() - t).toBeLessThan(5_000);
    }
    expect(browser.errors).toEqual([]);
  }, 300_000);
});

