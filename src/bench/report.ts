import { summarize, type Summary } from './stats.js';
import type { Sample } from './runner.js';
import type { RequestSlo } from './specs.js';
import { countErrorMessages, type ErrorMessageCount } from './error-messages.js';

/** The per-request limits goodput counts against (what `--slo` parses to; ms). */
export type Slo = RequestSlo;

export interface StageSummary {
  stage: number;
  offered_rps: number | null;
  requests: number;
  ok: number;
  throughput_rps: number;
  ttft_ms: Summary;
  e2e_ms: Summary;
}

export interface BenchReport {
  kvgate_bench: 1;
  label: string;
  created: string;
  config: Record<string, unknown>;
  partial: boolean;
  summary: {
    requests: number;
    ok: number;
    errors: number;
    errors_by_status: Record<string, number>;
    /** Distinct error messages, most common first (at most 10; absent in reports of older versions). */
    error_messages?: ErrorMessageCount[];
    duration_s: number;
    throughput_rps: number;
    output_tokens_per_s: number;
    output_tokens_mean: number;
    goodput_rps: number | null;
    ttft_ms: Summary;
    tpot_ms: Summary;
    itl_ms: Summary;
    e2e_ms: Summary;
    cache_hit_pct: number | null;
    prompt_tokens: number;
    cached_tokens: number;
    per_endpoint: Record<string, number>;
  };
  stages: StageSummary[];
  samples: { stage: number; start_ms: number; ttft_ms: number | null; e2e_ms: number; ok: boolean; endpoint: string | null; output_tokens: number }[];
}

/** TPOT of one request: time after the first token over the remaining tokens. */
export function tpotOf(s: Sample): number | undefined {
  if (s.ttftMs === undefined || s.outputTokens < 2) return undefined;
  return (s.e2eMs - s.ttftMs) / (s.outputTokens - 1);
}

export function buildReport(samples: Sample[], o: { label: string; config: Record<string, unknown>; durationS: number; slo?: Slo; partial: boolean; offered: (number | null)[] }): BenchReport {
  const ok = samples.filter((s) => s.ok);
  const errors: Record<string, number> = {};
  for (const s of samples) if (!s.ok) errors[s.status ? String(s.status) : s.error ?? 'error'] = (errors[s.status ? String(s.status) : s.error ?? 'error'] ?? 0) + 1;
  const perEndpoint: Record<string, number> = {};
  for (const s of ok) if (s.endpoint) perEndpoint[s.endpoint] = (perEndpoint[s.endpoint] ?? 0) + 1;
  const prompt = ok.reduce((a, s) => a + (s.promptTokens ?? 0), 0);
  const cached = ok.reduce((a, s) => a + (s.cachedTokens ?? 0), 0);
  const reportsCached = ok.some((s) => s.cachedTokens !== undefined);
  const outTokens = ok.reduce((a, s) => a + s.outputTokens, 0);
  const slo = o.slo;
  const good = slo
    ? ok.filter((s) => (slo.ttftMs === undefined || (s.ttftMs ?? Infinity) <= slo.ttftMs) && (slo.tpotMs === undefined || (tpotOf(s) ?? 0) <= slo.tpotMs) && (slo.e2eMs === undefined || s.e2eMs <= slo.e2eMs)).length
    : null;
  const dur = Math.max(o.durationS, 1e-9);
  const stages = [...new Set(samples.map((s) => s.stage))].sort((a, b) => a - b).map((stage) => {
    const ss = samples.filter((s) => s.stage === stage);
    const sok = ss.filter((s) => s.ok);
    const span = ss.length ? (Math.max(...ss.map((s) => s.startMs + s.e2eMs)) - Math.min(...ss.map((s) => s.startMs))) / 1000 : 0;
    return {
      stage,
      offered_rps: o.offered[stage] ?? null,
      requests: ss.length,
      ok: sok.length,
      throughput_rps: span > 0 ? sok.length / span : 0,
      ttft_ms: summarize(sok.map((s) => s.ttftMs ?? NaN)),
      e2e_ms: summarize(sok.map((s) => s.e2eMs)),
    };
  });
  return {
    kvgate_bench: 1,
    label: o.label,
    created: new Date().toISOString(),
    config: o.config,
    partial: o.partial,
    summary: {
      requests: samples.length,
      ok: ok.length,
      errors: samples.length - ok.length,
      errors_by_status: errors,
      error_messages: countErrorMessages(samples.filter((s) => !s.ok).map((s) => ({ status: s.status ? String(s.status) : 'no response', message: s.error ?? '' }))),
      duration_s: o.durationS,
      throughput_rps: ok.length / dur,
      output_tokens_per_s: outTokens / dur,
      output_tokens_mean: ok.length ? outTokens / ok.length : 0,
      goodput_rps: good === null ? null : good / dur,
      ttft_ms: summarize(ok.map((s) => s.ttftMs ?? NaN)),
      tpot_ms: summarize(ok.map((s) => tpotOf(s) ?? NaN)),
      itl_ms: summarize(ok.flatMap((s) => s.itlMs)),
      e2e_ms: summarize(ok.map((s) => s.e2eMs)),
      cache_hit_pct: reportsCached && prompt > 0 ? (cached / prompt) * 100 : null,
      prompt_tokens: prompt,
      cached_tokens: cached,
      per_endpoint: perEndpoint,
    },
    stages,
    samples: samples.map((s) => ({ stage: s.stage, start_ms: +s.startMs.toFixed(2), ttft_ms: s.ttftMs === undefined ? null : +s.ttftMs.toFixed(2), e2e_ms: +s.e2eMs.toFixed(2), ok: s.ok, endpoint: s.endpoint ?? null, output_tokens: s.outputTokens })),
  };
}

const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));

/** Terminal table of one or more reports side by side. */
export function formatTable(reports: BenchReport[]): string {
  const rows: [string, ...string[]][] = [
    ['', ...reports.map((r) => r.label)],
    ['requests ok / total', ...reports.map((r) => `${r.summary.ok} / ${r.summary.requests}`)],
    ['throughput req/s', ...reports.map((r) => f(r.summary.throughput_rps, 2))],
    ['output tokens/s', ...reports.map((r) => f(r.summary.output_tokens_per_s, 0))],
    ['goodput req/s', ...reports.map((r) => f(r.summary.goodput_rps, 2))],
    ['TTFT ms mean / p50', ...reports.map((r) => `${f(r.summary.ttft_ms.mean)} / ${f(r.summary.ttft_ms.p50)}`)],
    ['TTFT ms p90 / p99', ...reports.map((r) => `${f(r.summary.ttft_ms.p90)} / ${f(r.summary.ttft_ms.p99)}`)],
    ['TPOT ms mean / p99', ...reports.map((r) => `${f(r.summary.tpot_ms.mean, 2)} / ${f(r.summary.tpot_ms.p99, 2)}`)],
    ['ITL ms p50 / p99', ...reports.map((r) => `${f(r.summary.itl_ms.p50, 2)} / ${f(r.summary.itl_ms.p99, 2)}`)],
    ['E2E ms p50 / p99', ...reports.map((r) => `${f(r.summary.e2e_ms.p50)} / ${f(r.summary.e2e_ms.p99)}`)],
    ['cache hit %', ...reports.map((r) => f(r.summary.cache_hit_pct))],
    ['per endpoint', ...reports.map((r) => Object.values(r.summary.per_endpoint).join(' / ') || '—')],
  ];
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => r.map((v, c) => (v ?? '').padEnd(w[c])).join('  ') + (i === 0 ? `\n${w.map((n) => '-'.repeat(n)).join('  ')}` : '')).join('\n');
}
