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

export function axes(title: string, xLabel: string, yLabel: string, xMax: number, yMax: number): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  let s = `<text x="${W / 2}" y="16" text-anchor="middle" class="t">${esc(title)}</text>`;
  s += `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" class="ax"/><line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" class="ax"/>`;
  for (const f of ticks) {
    const x = PAD.l + f * (W - PAD.l - PAD.r);
    const y = H - PAD.b - f * (H - PAD.t - PAD.b);
    s += `<text x="${x}" y="${H - PAD.b + 14}" text-anchor="middle" class="k">${+(f * xMax).toPrecision(3)}</text>`;
    s += `<text x="${PAD.l - 6}" y="${y + 4}" text-anchor="end" class="k">${+(f * yMax).toPrecision(3)}</text>`;
    s += `<line x1="${PAD.l}" y1="${y}" x2="${W - PAD.r}" y2="${y}" class="g"/>`;
  }
  s += `<text x="${W / 2}" y="${H - 6}" text-anchor="middle" class="k">${esc(xLabel)}</text>`;
  s += `<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle" class="k">${esc(yLabel)}</text>`;
  return s;
}

export function legend(labels: string[], colors: string[] = labels.map((_, i) => COLORS[i % COLORS.length])): string {
  return labels.map((l, i) => `<text x="${W - PAD.r - 4}" y="${PAD.t + 14 + i * 14}" text-anchor="end" class="k" fill="${colors[i]}">${esc(l)}</text>`).join('');
}

export function svg(title: string, body: string): string {
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${body}</svg>`;
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
  const entries = o.legendEntries ?? o.series.map((s) => ({ label: s.label, color: s.color }));
  return svg(o.title, body + legend(entries.map((e) => e.label), entries.map((e) => e.color)));
}

/** Grouped bars: one group per category, one bar per series. */
export function barChart(o: { title: string; xLabel: string; yLabel: string; categories: string[]; series: { label: string; color: string; values: number[] }[] }): string {
  const yMax = niceMax(Math.max(1, ...o.series.flatMap((s) => s.values)));
  let body = axes(o.title, o.xLabel, o.yLabel, o.categories.length, yMax);
  const slot = (W - PAD.l - PAD.r) / Math.max(1, o.categories.length);
  const bw = (slot * 0.8) / Math.max(1, o.series.length);
  o.categories.forEach((cat, k) => {
    o.series.forEach((s, i) => {
      const v = s.values[k] ?? 0;
      const h = (v / yMax) * (H - PAD.t - PAD.b);
      const x = PAD.l + k * slot + slot * 0.1 + i * bw;
      body += `<rect class="series" x="${x.toFixed(1)}" y="${(H - PAD.b - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${s.color}"><title>${esc(s.label)} ${esc(cat)}: ${v}</title></rect>`;
    });
    body += `<text x="${(PAD.l + (k + 0.5) * slot).toFixed(1)}" y="${H - PAD.b + 26}" text-anchor="middle" class="k">${esc(cat)}</text>`;
  });
  return svg(o.title, body + legend(o.series.map((s) => s.label), o.series.map((s) => s.color)));
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
