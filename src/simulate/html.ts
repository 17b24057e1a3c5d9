import { COLORS, esc, lineChart, barChart, htmlPage } from '../bench/svg-chart.js';
import { formatReport, type PolicyReport, type SimulateReport, type StageFigures } from './report.js';

const color = (i: number) => COLORS[i % COLORS.length];

/** x of a stage: its offered rate (Poisson stages, trace windows) or its number (closed loop). Points sorted by x. */
function curve(p: PolicyReport, y: (s: StageFigures) => number | null): [number, number][] {
  return p.stages
    .map((s, j) => [s.offered_rps ?? j + 1, y(s) ?? NaN] as [number, number])
    .sort((a, b) => a[0] - b[0]);
}

/**
 * A self-contained HTML report of a simulation (inline SVG, no scripts, no network): TTFT p50/p90,
 * prefix hit rate beside the oracle's, and output throughput against offered load per policy,
 * and requests per replica.
 */
export function renderSimulateHtml(r: SimulateReport, title = 'kvgate simulate'): string {
  const ps = r.policies;
  const open = ps.some((p) => p.stages.some((s) => s.offered_rps !== null));
  const xLabel = open ? 'offered rate (req/s)' : 'stage';
  const legendEntries = ps.map((p, i) => ({ label: p.policy, color: color(i) }));
  const ttft = lineChart({
    title: 'TTFT against offered load',
    xLabel,
    yLabel: 'TTFT (ms), p50 solid, p90 dashed',
    series: ps.flatMap((p, i) => [
      { label: `${p.policy} p50`, color: color(i), dots: true, points: curve(p, (s) => s.ttft_ms.p50) },
      { label: `${p.policy} p90`, color: color(i), dash: '4 3', dots: true, points: curve(p, (s) => s.ttft_ms.p90) },
    ]),
    legendEntries,
  });
  const hits = lineChart({
    title: 'Prefix cache hit rate against offered load',
    xLabel,
    yLabel: 'hit % (oracle: grey dotted)',
    yMax: 100,
    series: [
      ...ps.map((p, i) => ({ label: p.policy, color: color(i), dots: true, points: curve(p, (s) => s.hit_pct) })),
      ...(ps.length ? [{ label: 'oracle', color: '#6b7280', dash: '2 3', points: curve(ps[0], (s) => s.oracle_hit_pct) }] : []),
    ],
    legendEntries: [...legendEntries, { label: 'oracle', color: '#6b7280' }],
  });
  const throughput = lineChart({
    title: 'Output throughput against offered load',
    xLabel,
    yLabel: 'output tokens/s',
    series: ps.map((p, i) => ({ label: p.policy, color: color(i), dots: true, points: curve(p, (s) => s.output_tokens_per_s) })),
  });
  const ids = ps[0]?.replicas.map((x) => x.id) ?? [];
  const perReplica = barChart({
    title: 'Requests per replica',
    xLabel: 'replica',
    yLabel: 'requests',
    categories: ids.map((id) => id.replace(/:8000$/, '')),
    series: ps.map((p, i) => ({ label: p.policy, color: color(i), values: p.replicas.map((x) => x.requests) })),
  });
  return htmlPage(
    title,
    `<p>${esc(String(r.config.fleet))} · seed ${esc(String(r.config.seed))} · virtual time</p>
<pre>${esc(formatReport(r))}</pre>
<div class="charts">${ttft}${hits}${throughput}${perReplica}</div>
<details><summary>configuration</summary><pre>${esc(JSON.stringify(r.config, null, 2))}</pre></details>`,
  );
}
