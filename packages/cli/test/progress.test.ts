import { formatProgress, progressOnStderr } from '../src/progress';

describe('progress line', () => {
  it('shows bar, bytes, matched, rate and time left', () => {
    expect(formatProgress({ done: 250e6, total: 1000e6, matched: 12345, elapsedMs: 5000 })).toBe(
      `[${'#'.repeat(8)}${'.'.repeat(22)}] 25%  250/1000 MB  12,345 matched  50 MB/s  15s left`,
    );
    expect(formatProgress({ done: 1000e6, total: 1000e6, elapsedMs: 125_000 })).toBe(`[${'#'.repeat(30)}] 100%  1000/1000 MB  8.0 MB/s`);
    // no rate or estimate before there is anything to go on
    expect(formatProgress({ done: 0, total: 5e6, matched: 0, elapsedMs: 0 })).toBe(`[${'.'.repeat(30)}] 0%  0.0/5.0 MB  0 matched`);
    expect(formatProgress({ done: 10e6, total: 4000e6, elapsedMs: 1000 })).toMatch(/ 6m39s left$/);
    expect(formatProgress({ done: 0, total: 0, elapsedMs: 10 })).toMatch(/^\[#{30}\] 100%/);
  });

  const stream = (isTTY: boolean): { isTTY: boolean; text: string; write(s: string): boolean } => ({
    isTTY,
    text: '',
    write(s: string) {
      this.text += s;
      return true;
    },
  });

  it('draws in place on a terminal, throttled, always the final state, and clears the line at the end', () => {
    const s = stream(true);
    let t = 0;
    const p = progressOnStderr({ stream: s, now: () => t });
    p.bytes(1, 100);
    t = 10;
    p.bytes(2, 100); // within 100 ms of the last draw: skipped
    p.matched(3);
    t = 500;
    p.bytes(100, 100); // the end is always drawn
    p.end();
    const frames = s.text.split('\r').filter(Boolean);
    expect(frames).toHaveLength(3);
    expect(frames[0]).toMatch(/^\[\.{30}\] 1% .*\x1b\[K$/);
    expect(frames[1]).toMatch(/^\[#{30}\] 100% .* 3 matched/);
    expect(frames[2]).toBe('\x1b[K');
  });

  it('draws events matched after the last redraw before it clears the line', () => {
    const s = stream(true);
    let t = 0;
    const p = progressOnStderr({ stream: s, now: () => t });
    p.bytes(100, 100);
    t = 10; // within the redraw interval: not drawn yet
    p.matched(2);
    p.end();
    const frames = s.text.split('\r').filter(Boolean);
    expect(frames.map((f) => f.replace(/ {2}[\d.]+ MB\/s.*/, ''))).toEqual([expect.stringMatching(/^\[#{30}\] 100%/), expect.stringMatching(/^\[#{30}\] 100% .* 2 matched/), '\x1b[K']);
  });

  it('is silent when stderr is not a terminal, or with --quiet', () => {
    for (const [tty, quiet] of [[false, false], [true, true]] as const) {
      const s = stream(tty);
      const p = progressOnStderr({ stream: s, quiet });
      p.bytes(50, 100);
      p.matched();
      p.bytes(100, 100);
      p.end();
      expect(s.text).toBe('');
    }
  });
});
