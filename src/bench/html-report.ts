import type { BenchReport } from './report.js';
import { formatTable } from './report.js';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2'];
const W = 560;
const H = 300;
const PAD = { l: 56, r: 16, t: 28, b: 40 };

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= v)!;
}

function axes(title: string, xLabel: string, yLabel: string, xMax: number, yMax: number): string {
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

function legend(labels: string[]): string {
  return labels.map((l, i) => `<text x="${W - PAD.r - 4}" y="${PAD.t + 14 + i * 14}" text-anchor="end" class="k" fill="${COLORS[i % COLORS.length]}">${esc(l)}</text>`).join('');
}

/** Empirical CDF per report of one latency (ms). */
function cdfChart(reports: BenchReport[], field: 'ttft_ms' | 'e2e_ms', title: string): string {
  const series = reports.map((r) => r.samples.filter((s) => s.ok && s[field] !== null).map((s) => s[field] as number).sort((a, b) => a - b));
  const xMax = niceMax(Math.max(0, ...series.map((s) => s[s.length - 1] ?? 0)));
  let body = axes(title, `${field === 'ttft_ms' ? 'TTFT' : 'E2E latency'} (ms)`, 'fraction of requests', xMax, 1);
  series.forEach((s, i) => {
    if (!s.length) return;
    const pts = s.map((v, j) => `${(PAD.l + (v / xMax) * (W - PAD.l - PAD.r)).toFixed(1)},${(H - PAD.b - ((j + 1) / s.length) * (H - PAD.t - PAD.b)).toFixed(1)}`);
    body += `<polyline class="series" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" points="${pts.join(' ')}"/>`;
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${body}${legend(reports.map((r) => r.label))}</svg>`;
}

/** p50 and p90 TTFT against the offered rate (or the stage number when closed loop). */
function ttftVsRate(reports: BenchReport[]): string {
  const xs = reports.flatMap((r) => r.stages.map((s, i) => s.offered_rps ?? i + 1));
  const xMax = niceMax(Math.max(1, ...xs));
  const yMax = niceMax(Math.max(1, ...reports.flatMap((r) => r.stages.map((s) => s.ttft_ms.p90 || 0))));
  let body = axes('TTFT against offered load', reports.some((r) => r.stages.some((s) => s.offered_rps !== null)) ? 'offered rate (req/s)' : 'stage', 'TTFT (ms), p50 solid, p90 dashed', xMax, yMax);
  reports.forEach((r, i) => {
    for (const [key, dash] of [['p50', ''], ['p90', '4 3']] as const) {
      const pts = r.stages
        .map((s, j) => [s.offered_rps ?? j + 1, s.ttft_ms[key]] as const)
        .filter(([, y]) => Number.isFinite(y))
        .map(([x, y]) => `${(PAD.l + (x / xMax) * (W - PAD.l - PAD.r)).toFixed(1)},${(H - PAD.b - (y / yMax) * (H - PAD.t - PAD.b)).toFixed(1)}`);
      if (pts.length) body += `<polyline class="series" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2" stroke-dasharray="${dash}" points="${pts.join(' ')}"/>`;
      for (const p of pts) body += `<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="3" fill="${COLORS[i % COLORS.length]}"/>`;
    }
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="TTFT against offered load">${body}${legend(reports.map((r) => r.label))}</svg>`;
}

/** Requests per endpoint, grouped by report. */
function perEndpoint(reports: BenchReport[]): string {
  const eps = [...new Set(reports.flatMap((r) => Object.keys(r.summary.per_endpoint)))].sort();
  if (eps.length === 0) return '<p>No endpoint reported which replica served it (x-gateway-destination-endpoint-served).</p>';
  const yMax = niceMax(Math.max(1, ...reports.flatMap((r) => Object.values(r.summary.per_endpoint))));
  let body = axes('Requests per endpoint', 'endpoint', 'requests', eps.length, yMax);
  const slot = (W - PAD.l - PAD.r) / eps.length;
  const bw = (slot * 0.8) / reports.length;
  eps.forEach((ep, k) => {
    reports.forEach((r, i) => {
      const v = r.summary.per_endpoint[ep] ?? 0;
      const h = (v / yMax) * (H - PAD.t - PAD.b);
      const x = PAD.l + k * slot + slot * 0.1 + i * bw;
      body += `<rect class="series" x="${x.toFixed(1)}" y="${(H - PAD.b - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[i % COLORS.length]}"><title>${esc(r.label)} ${esc(ep)}: ${v}</title></rect>`;
    });
    body += `<text x="${(PAD.l + (k + 0.5) * slot).toFixed(1)}" y="${H - PAD.b + 26}" text-anchor="middle" class="k">${esc(ep)}</text>`;
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="Requests per endpoint">${body}${legend(reports.map((r) => r.label))}</svg>`;
}

/** A self-contained HTML page (inline SVG, no scripts, no network) for one or more runs. */
export function renderHtml(reports: BenchReport[], title = 'kvgate bench'): string {
  const configs = reports.map((r) => `<details><summary>${esc(r.label)} — configuration</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#111}h1{font-size:20px}
.charts{display:flex;flex-wrap:wrap;gap:16px}svg{background:#fafafa;border:1px solid #e5e7eb}
.t{font-size:13px;font-weight:600}.k{font-size:11px;fill:#374151}.ax{stroke:#6b7280}.g{stroke:#e5e7eb}
pre{background:#f3f4f6;padding:8px;overflow:auto}
</style></head><body>
<h1>${esc(title)}</h1>
<p>${reports.map((r) => `${esc(r.label)}: ${r.summary.ok}/${r.summary.requests} ok in ${r.summary.duration_s.toFixed(1)} s${r.partial ? ' (partial: interrupted)' : ''}`).join(' · ')}</p>
<pre>${esc(formatTable(reports))}</pre>
<div class="charts">${cdfChart(reports, 'ttft_ms', 'TTFT CDF')}${cdfChart(reports, 'e2e_ms', 'End-to-end latency CDF')}${ttftVsRate(reports)}${perEndpoint(reports)}</div>
${configs}
</body></html>
`;
}
