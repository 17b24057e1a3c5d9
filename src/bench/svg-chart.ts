/**
 * Inline-SVG charts for the self-contained HTML reports of `kvgate bench` and `kvgate simulate`
 * (no scripts, no network). Every drawn series carries class "series" so tests can count them.
 */
export const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#be185d'];
export const W = 560;
export const H = 300;
export const PAD = { l: 56, r: 16, t: 28, b: 40 };

export function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** The smallest 1-2-5-10 × 10ⁿ at or above v (1 for non-positive v). */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= v)!;
}

/** Tick text: three significant digits, thousands as k and millions as M so a wide axis's labels stay short ("250k", not "250000"). */
export function tick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

/**
 * Width of `s` in the charts' 11 px label font, estimated generously (6.5 px a character; system-ui
 * averages ~6): layout here has no font metrics, and overestimating only leaves space.
 */
export function textWidth(s: string): number {
  return s.length * CHAR_PX;
}
const CHAR_PX = 6.5;

/** `s` cut to fit `px` with an ellipsis (the caller keeps the whole text in a <title>). */
export function fit(s: string, px: number): string {
  const max = Math.max(1, Math.floor(px / CHAR_PX));
  return s.length <= max ? s : `${s.slice(0, Math.max(0, max - 1))}…`;
}

/** A label that may be cut short: the visible text, and the whole of it as a tooltip when it was. */
function label(x: number, y: number, s: string, px: number, attrs: string): string {
  const shown = fit(s, px);
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${shown !== s ? `<title>${esc(s)}</title>` : ''}${esc(shown)}</text>`;
}

/** Axes, grid and labels of the plot area (the top H of the chart). `xTicks: false` for category axes, which label their own. */
export function axes(title: string, xLabel: string, yLabel: string, xMax: number, yMax: number, o: { xTicks?: boolean } = {}): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  let s = label(W / 2, 16, title, W - 8, 'text-anchor="middle" class="t"');
  s += `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" class="ax"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" class="ax"/>`;
  for (const f of ticks) {
    const x = PAD.l + f * (W - PAD.l - PAD.r);
    const y = H - PAD.b - f * (H - PAD.t - PAD.b);
    if (o.xTicks !== false) s += `<text x="${x}" y="${H - PAD.b + 14}" text-anchor="middle" class="k">${tick(f * xMax)}</text>`;
    s += `<text x="${PAD.l - 6}" y="${y + 4}" text-anchor="end" class="k">${tick(f * yMax)}</text>`;
    s += `<line x1="${PAD.l}" y1="${y}" x2="${W - PAD.r}" y2="${y}" class="g"/>`;
  }
  s += label(W / 2, H - 6, xLabel, W - 8, 'text-anchor="middle" class="k"');
  s += `<g transform="rotate(-90 12 ${H / 2})">${label(12, H / 2, yLabel, H - PAD.b, 'text-anchor="middle" class="k"')}</g>`;
  return s;
}

export interface LegendEntry {
  label: string;
  color: string;
}

/**
 * The legend, below the plot area (it used to be drawn inside it, right-aligned, where long policy
 * names ran over the lines and off the chart's left edge, and many entries ran past its bottom):
 * a swatch and a label per entry, in as many equal columns as the longest label allows, rows as
 * needed; a label wider than the chart is cut with an ellipsis (whole in its tooltip). Returns the
 * markup and the height it adds under the plot.
 */
export function legend(entries: LegendEntry[]): { markup: string; height: number } {
  if (entries.length === 0) return { markup: '', height: 0 };
  const left = PAD.l;
  const width = W - PAD.r - left;
  const swatch = 16; // 10 px square + gap
  const colW = Math.min(width, Math.max(...entries.map((e) => swatch + textWidth(e.label) + 12)));
  const cols = Math.max(1, Math.min(entries.length, Math.floor(width / colW)));
  const pitch = width / cols;
  const row = 16;
  let markup = '';
  entries.forEach((e, i) => {
    const x = left + (i % cols) * pitch;
    const y = H + 4 + Math.floor(i / cols) * row;
    markup += `<g class="legend"><rect x="${x.toFixed(1)}" y="${y + 2}" width="10" height="10" fill="${e.color}"/>${label(x + swatch, y + 11, e.label, pitch - swatch - 6, `class="k" fill="${e.color}"`)}</g>`;
  });
  return { markup, height: 8 + Math.ceil(entries.length / cols) * row };
}

/** The chart: the plot area (H tall) and, under it, the legend of `entries`. */
export function svg(title: string, body: string, entries: LegendEntry[] = []): string {
  const l = legend(entries);
  const h = H + l.height;
  return `<svg viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${esc(title)}">${body}${l.markup}</svg>`;
}

export interface LineSeries {
  label: string;
  color: string;
  /** SVG stroke-dasharray ('' = solid). */
  dash?: string;
  points: [number, number][];
  /** Draw a dot at each point. */
  dots?: boolean;
}

/** Lines over shared axes starting at 0; non-finite points are skipped. `legendEntries` defaults to every series. */
export function lineChart(o: { title: string; xLabel: string; yLabel: string; series: LineSeries[]; yMax?: number; legendEntries?: { label: string; color: string }[] }): string {
  const pts = o.series.flatMap((s) => s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)));
  const xMax = niceMax(Math.max(0, ...pts.map(([x]) => x)));
  const yMax = o.yMax ?? niceMax(Math.max(0, ...pts.map(([, y]) => y)));
  let body = axes(o.title, o.xLabel, o.yLabel, xMax, yMax);
  for (const s of o.series) {
    const xy = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => [(PAD.l + (x / xMax) * (W - PAD.l - PAD.r)).toFixed(1), (H - PAD.b - (y / yMax) * (H - PAD.t - PAD.b)).toFixed(1)]);
    if (xy.length === 0) continue;
    body += `<polyline class="series" fill="none" stroke="${s.color}" stroke-width="2" stroke-dasharray="${s.dash ?? ''}" points="${xy.map((p) => p.join(',')).join(' ')}"><title>${esc(s.label)}</title></polyline>`;
    if (s.dots) for (const [x, y] of xy) body += `<circle cx="${x}" cy="${y}" r="3" fill="${s.color}"/>`;
  }
  return svg(o.title, body, o.legendEntries ?? o.series.map((s) => ({ label: s.label, color: s.color })));
}

/**
 * Grouped bars: one group per category, one bar per series. Category labels sit where an axis's
 * ticks would; when they would not fit side by side, every k-th is labelled (each bar keeps its
 * category in its tooltip), and a label wider than its share of the axis is cut with an ellipsis.
 */
export function barChart(o: { title: string; xLabel: string; yLabel: string; categories: string[]; series: { label: string; color: string; values: number[] }[] }): string {
  const yMax = niceMax(Math.max(1, ...o.series.flatMap((s) => s.values)));
  let body = axes(o.title, o.xLabel, o.yLabel, o.categories.length, yMax, { xTicks: false });
  const n = Math.max(1, o.categories.length);
  const slot = (W - PAD.l - PAD.r) / n;
  const bw = (slot * 0.8) / Math.max(1, o.series.length);
  // Label every k-th category so that labels of at most a few characters still get ~8 px between them.
  const widest = Math.max(0, ...o.categories.map(textWidth));
  const every = Math.max(1, Math.ceil(Math.min(widest + 8, 90) / slot));
  o.categories.forEach((cat, k) => {
    o.series.forEach((s, i) => {
      const v = s.values[k] ?? 0;
      const h = (v / yMax) * (H - PAD.t - PAD.b);
      const x = PAD.l + k * slot + slot * 0.1 + i * bw;
      body += `<rect class="series" x="${x.toFixed(1)}" y="${(H - PAD.b - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(s.label)} ${esc(cat)}: ${v}</title></rect>`;
    });
    // Centred under its bars, never reaching left of the y axis (its "0" tick) or past the right edge.
    const cx = PAD.l + (k + 0.5) * slot;
    // Every k-th from the k-th (not the first), so the first labelled one has room left of its centre.
    if ((k + 1) % every === 0) body += label(cx, H - PAD.b + 14, cat, Math.min(slot * every - 8, 2 * (cx - PAD.l), 2 * (W - cx)), 'text-anchor="middle" class="k"');
  });
  return svg(o.title, body, o.series.map((s) => ({ label: s.label, color: s.color })));
}

/** The page shell both reports use. */
export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#111}h1{font-size:20px}h2{font-size:16px}
.charts{display:flex;flex-wrap:wrap;gap:16px}svg{background:#fafafa;border:1px solid #e5e7eb}
.t{font-size:13px;font-weight:600}.k{font-size:11px;fill:#374151}.ax{stroke:#6b7280}.g{stroke:#e5e7eb}
pre{background:#f3f4f6;padding:8px;overflow:auto}
</style></head><body>
<h1>${esc(title)}</h1>
${body}
</body></html>
`;
}
