/// <reference lib="dom" />
import type { TimelineData } from './timeline-data';

/**
 * The page's only script, serialised into it with Function.prototype.toString (so it must
 * not reference anything outside its own body). It draws the timeline on a canvas (one
 * rectangle per event, whatever the count), zooms with the wheel or the buttons, pans by
 * dragging, and shows an event's or a table row's raw records on click. (Types are erased, so
 * the type import above leaves nothing in the serialised body.)
 */
export function pageScript(): void {
  interface Data {
    timeline: TimelineData;
    raw: (string[] | null)[];
    kinds: string[];
    colors: string[];
    omittedHint: string;
  }
  const data = JSON.parse(document.getElementById('report-data')!.textContent!) as Data;
  const tl = data.timeline;
  const n = tl.t.length;
  const canvas = document.getElementById('timeline') as HTMLCanvasElement;
  const ctx = canvas.getContext('2d')!;
  const details = document.getElementById('details')!;
  const count = document.getElementById('timeline-count')!;
  count.textContent = `${n.toLocaleString('en-US')} events`;
  count.setAttribute('data-count', String(n));

  const LABEL_W = 220;
  const laneH = Math.max(4, Math.min(18, Math.floor(480 / Math.max(1, tl.lanes.length))));
  // a margin on both sides so the first and last events are not drawn on the edge
  const last = n > 0 ? Math.max(1, tl.t[n - 1]) : 1;
  const margin = Math.max(1, last * 0.02);
  const lo0 = -margin;
  const span = last + 2 * margin;
  let view = { from: lo0, to: lo0 + span };

  const fmt = (ms: number): string => new Date(tl.t0 + ms).toISOString().replace('T', ' ').replace('Z', '');
  const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  function resize(): void {
    const w = canvas.parentElement!.clientWidth;
    canvas.width = Math.max(400, w);
    canvas.height = Math.max(60, tl.lanes.length * laneH + 24);
  }

  let pending = false;
  function draw(): void {
    pending = false;
    const w = canvas.width - LABEL_W;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = `${Math.min(12, laneH - 1)}px sans-serif`;
    ctx.fillStyle = '#333';
    if (laneH >= 8) tl.lanes.forEach((l, i) => ctx.fillText(`${'  '.repeat(l.depth)}${l.label}`.slice(0, 40), 4, i * laneH + laneH - 3));
    const scale = w / (view.to - view.from);
    // binary search the first visible event: drawing cost follows what is on screen
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tl.t[mid] < view.from) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < n && tl.t[i] <= view.to; i++) {
      ctx.fillStyle = data.colors[tl.kind[i]];
      ctx.fillRect(LABEL_W + (tl.t[i] - view.from) * scale - 1, tl.lane[i] * laneH + 1, 3, laneH - 2);
    }
    ctx.fillStyle = '#666';
    ctx.fillText(fmt(view.from), LABEL_W, canvas.height - 6);
    const end = fmt(view.to);
    ctx.fillText(end, canvas.width - ctx.measureText(end).width - 4, canvas.height - 6);
  }
  const redraw = (): void => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(draw);
    }
  };

  function zoom(factor: number, atX: number): void {
    const w = canvas.width - LABEL_W;
    const at = view.from + ((atX - LABEL_W) / w) * (view.to - view.from);
    const width = Math.min(span, Math.max(1, (view.to - view.from) * factor));
    let from = at - (at - view.from) * (width / (view.to - view.from));
    from = Math.max(lo0, Math.min(lo0 + span - width, from));
    view = { from, to: from + width };
    redraw();
  }

  function showEvents(indices: number[], title: string): void {
    const parts = [`<h3>${esc(title)}</h3>`];
    for (const i of indices) {
      const exe = tl.exe[i] >= 0 ? tl.strings[tl.exe[i]] : '';
      const sc = tl.syscall[i] >= 0 ? tl.strings[tl.syscall[i]] : '';
      parts.push(
        `<div class="event" data-index="${i}"><b>${esc(fmt(tl.t[i]))}</b> serial ${tl.serial[i]} pid ${tl.pid[i] ?? '-'} ${esc(exe)} ${esc(sc)} ${tl.success[i] === false ? '<span class="fail">failed</span>' : ''}`,
        `<pre>${data.raw[i] ? esc(data.raw[i]!.join('\n')) : esc(data.omittedHint)}</pre></div>`,
      );
    }
    details.innerHTML = parts.join('');
    details.setAttribute('data-shown', String(indices.length));
  }

  canvas.addEventListener('wheel', (e) => {
    e.preventDefault();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, e.offsetX);
  });
  let drag: { x: number; from: number; moved: boolean } | null = null;
  canvas.addEventListener('mousedown', (e) => {
    drag = { x: e.offsetX, from: view.from, moved: false };
  });
  canvas.addEventListener('mousemove', (e) => {
    if (!drag) return;
    const dx = e.offsetX - drag.x;
    if (Math.abs(dx) > 3) drag.moved = true;
    const width = view.to - view.from;
    const from = Math.max(lo0, Math.min(lo0 + span - width, drag.from - (dx / (canvas.width - LABEL_W)) * width));
    view = { from, to: from + width };
    redraw();
  });
  canvas.addEventListener('mouseup', (e) => {
    const moved = drag?.moved;
    drag = null;
    if (moved || n === 0) return;
    // the nearest event in the clicked lane
    const lane = Math.floor(e.offsetY / laneH);
    const at = view.from + ((e.offsetX - LABEL_W) / (canvas.width - LABEL_W)) * (view.to - view.from);
    let best = -1;
    let bestD = Infinity;
    for (let i = 0; i < n; i++) {
      if (tl.lane[i] !== lane) continue;
      const d = Math.abs(tl.t[i] - at);
      if (d < bestD) [best, bestD] = [i, d];
    }
    if (best >= 0) showEvents([best], 'event');
    (window as unknown as { lastClickHandledAt: number }).lastClickHandledAt = performance.now();
  });
  document.getElementById('zoom-in')!.addEventListener('click', () => zoom(0.5, LABEL_W + (canvas.width - LABEL_W) / 2));
  document.getElementById('zoom-out')!.addEventListener('click', () => zoom(2, LABEL_W + (canvas.width - LABEL_W) / 2));
  document.getElementById('zoom-reset')!.addEventListener('click', () => {
    view = { from: lo0, to: lo0 + span };
    redraw();
  });
  document.querySelectorAll<HTMLAnchorElement>('a.records').forEach((a) =>
    a.addEventListener('click', () => {
      const list = (a.dataset.events ?? '').split(',').filter((s) => s !== '').map(Number);
      showEvents(list, a.dataset.title ?? 'records');
    }),
  );
  window.addEventListener('resize', () => {
    resize();
    redraw();
  });
  resize();
  draw();
  document.body.setAttribute('data-ready', 'true');
}
