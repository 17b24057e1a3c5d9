import type { BenchReport } from './report.js';
import { formatTable } from './report.js';
import { COLORS, W, H, PAD, esc, niceMax, axes, svg, lineChart, barChart, htmlPage } from './svg-chart.js';

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
  return svg(title, body, reports.map((r, i) => ({ label: r.label, color: COLORS[i % COLORS.length] })));
}

/** p50 and p90 TTFT against the offered rate (or the stage number when closed loop). */
function ttftVsRate(reports: BenchReport[]): string {
  const open = reports.some((r) => r.stages.some((s) => s.offered_rps !== null));
  return lineChart({
    title: 'TTFT against offered load',
    xLabel: open ? 'offered rate (req/s)' : 'stage',
    yLabel: 'TTFT (ms), p50 solid, p90 dashed',
    series: reports.flatMap((r, i) =>
      (['p50', 'p90'] as const).map((key) => ({
        label: `${r.label} ${key}`,
        color: COLORS[i % COLORS.length],
        dash: key === 'p90' ? '4 3' : '',
        dots: true,
        points: r.stages.map((s, j) => [s.offered_rps ?? j + 1, s.ttft_ms[key]] as [number, number]),
      })),
    ),
    legendEntries: reports.map((r, i) => ({ label: r.label, color: COLORS[i % COLORS.length] })),
  });
}

/** Requests per endpoint, grouped by report. */
function perEndpoint(reports: BenchReport[]): string {
  const eps = [...new Set(reports.flatMap((r) => Object.keys(r.summary.per_endpoint)))].sort();
  if (eps.length === 0) return '<p>No endpoint reported which replica served it (x-gateway-destination-endpoint-served).</p>';
  return barChart({
    title: 'Requests per endpoint',
    xLabel: 'endpoint',
    yLabel: 'requests',
    categories: eps,
    series: reports.map((r, i) => ({ label: r.label, color: COLORS[i % COLORS.length], values: eps.map((ep) => r.summary.per_endpoint[ep] ?? 0) })),
  });
}

/** A self-contained HTML page (inline SVG, no scripts, no network) for one or more runs. */
export function renderHtml(reports: BenchReport[], title = 'kvgate bench'): string {
  const configs = reports.map((r) => `<details><summary>${esc(r.label)} — configuration</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details>`).join('');
  return htmlPage(
    title,
    `<p>${reports.map((r) => `${esc(r.label)}: ${r.summary.ok}/${r.summary.requests} ok in ${r.summary.duration_s.toFixed(1)} s${r.partial ? ' (partial: interrupted)' : ''}`).join(' · ')}</p>
<pre>${esc(formatTable(reports))}</pre>
<div class="charts">${cdfChart(reports, 'ttft_ms', 'TTFT CDF')}${cdfChart(reports, 'e2e_ms', 'End-to-end latency CDF')}${ttftVsRate(reports)}${perEndpoint(reports)}</div>
${configs}`,
  );
}
