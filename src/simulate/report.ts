import { summarize, type Summary } from '../bench/stats.js';
import type { PolicyRun, RequestRecord } from './run-policy.js';
import type { RequestSlo } from './slo.js';
import { timePerOutputToken } from '../router/observability/time-per-output-token.js';
import { countErrorMessages, type ErrorMessageCount } from '../bench/error-messages.js';

/** Figures of one set of requests (a whole policy run or one stage). Times ms, rates per second of virtual time. */
export interface Figures {
  requests: number;
  ok: number;
  errors: number;
  errors_by_status: Record<string, number>;
  /** Distinct error messages, most common first (at most 10), as `kvgate bench` reports them. */
  error_messages: ErrorMessageCount[];
  /** First send to last completion, seconds of virtual time. */
  duration_s: number;
  throughput_rps: number;
  input_tokens_per_s: number;
  output_tokens_per_s: number;
  /** Requests per second that met the SLO (null without one). */
  goodput_rps: number | null;
  ttft_ms: Summary;
  tpot_ms: Summary;
  e2e_ms: Summary;
  /** Time in the engine's waiting queue. */
  queue_ms: Summary;
  /** 100 · Σ cached / Σ prompt tokens (inference-perf's kv_cache_hit_percent). */
  hit_pct: number | null;
  /** The same with an infinite, perfectly placed cache. */
  oracle_hit_pct: number | null;
  prompt_tokens: number;
  cached_tokens: number;
  output_tokens: number;
  preemptions: number;
}

export interface StageFigures extends Figures {
  stage: number;
  offered_rps: number | null;
}

export interface ReplicaFigures {
  id: string;
  profile: string;
  requests: number;
  prompt_tokens: number;
  /** Prompt tokens the replica had to prefill (prompt − cached). */
  prefill_tokens: number;
  hit_pct: number | null;
  output_tokens: number;
  preemptions: number;
  /** Attempts the replica refused with an error status (400: prompt over its max_model_len), the gateway's failovers from it included. */
  refused: number;
}

export interface PolicyReport {
  policy: string;
  source: string;
  summary: Figures;
  stages: StageFigures[];
  replicas: ReplicaFigures[];
  /** Mean engine waiting queue over the run's scrapes (vllm:num_requests_waiting averaged over time and replicas). */
  vllm_waiting_mean: number;
  /** max / mean over replicas of requests served and of tokens prefilled (1 = perfectly even). */
  balance: { requests_max_over_mean: number | null; prefill_max_over_mean: number | null };
  /** Virtual seconds simulated and discrete events fired. */
  simulated_s: number;
  events: number;
}

export interface SimulateReport {
  kvgate_simulate: 1;
  config: Record<string, unknown>;
  policies: PolicyReport[];
}

export function tpotOf(r: RequestRecord): number | undefined {
  return r.ttftMs === undefined ? undefined : timePerOutputToken(r.e2eMs, r.ttftMs, r.outputTokens);
}

export function meetsSlo(r: RequestRecord, slo: RequestSlo): boolean {
  if (!r.ok) return false;
  if (slo.ttftMs !== undefined && (r.ttftMs ?? Infinity) > slo.ttftMs) return false;
  if (slo.tpotMs !== undefined && (tpotOf(r) ?? 0) > slo.tpotMs) return false;
  if (slo.e2eMs !== undefined && r.e2eMs > slo.e2eMs) return false;
  return true;
}

const pct = (num: number, den: number) => (den > 0 ? (num / den) * 100 : null);

export function figures(rs: RequestRecord[], slo: RequestSlo | undefined): Figures {
  const ok = rs.filter((r) => r.ok);
  const errors: Record<string, number> = {};
  for (const r of rs) if (!r.ok) errors[String(r.status)] = (errors[String(r.status)] ?? 0) + 1;
  let start = Infinity;
  let end = -Infinity;
  for (const r of rs) {
    start = Math.min(start, r.startMs);
    end = Math.max(end, r.startMs + r.e2eMs);
  }
  const dur = rs.length ? Math.max((end - start) / 1000, 1e-9) : 0;
  const sum = (f: (r: RequestRecord) => number) => ok.reduce((a, r) => a + f(r), 0);
  const prompt = sum((r) => r.promptTokens);
  const cached = sum((r) => r.cachedTokens);
  const out = sum((r) => r.outputTokens);
  const rate = (n: number) => (dur > 0 ? n / dur : 0);
  return {
    requests: rs.length,
    ok: ok.length,
    errors: rs.length - ok.length,
    errors_by_status: errors,
    error_messages: countErrorMessages(rs.filter((r) => !r.ok).map((r) => ({ status: String(r.status), message: r.error ?? '' }))),
    duration_s: dur,
    throughput_rps: rate(ok.length),
    input_tokens_per_s: rate(prompt),
    output_tokens_per_s: rate(out),
    goodput_rps: slo ? rate(rs.filter((r) => meetsSlo(r, slo)).length) : null,
    ttft_ms: summarize(ok.map((r) => r.ttftMs ?? NaN)),
    tpot_ms: summarize(ok.map((r) => tpotOf(r) ?? NaN)),
    e2e_ms: summarize(ok.map((r) => r.e2eMs)),
    queue_ms: summarize(ok.map((r) => r.queueMs ?? NaN)),
    hit_pct: pct(cached, prompt),
    oracle_hit_pct: pct(sum((r) => r.oracleCachedTokens), prompt),
    prompt_tokens: prompt,
    cached_tokens: cached,
    output_tokens: out,
    preemptions: rs.reduce((a, r) => a + r.preemptions, 0),
  };
}

function maxOverMean(xs: number[]): number | null {
  const mean = xs.reduce((a, b) => a + b, 0) / (xs.length || 1);
  return mean > 0 ? Math.max(...xs) / mean : null;
}

export function policyReport(run: PolicyRun, slo: RequestSlo | undefined): PolicyReport {
  const byStage = new Map<number, RequestRecord[]>();
  for (const r of run.records) {
    let l = byStage.get(r.stage);
    if (!l) byStage.set(r.stage, (l = []));
    l.push(r);
  }
  const stages = [...byStage.keys()].sort((a, b) => a - b).map((stage) => ({ stage, offered_rps: run.offered[stage] ?? null, ...figures(byStage.get(stage)!, slo) }));
  const replicas: ReplicaFigures[] = run.replicas.map((rep, i) => {
    const mine = run.records.filter((r) => r.ok && r.replica === i);
    const prompt = mine.reduce((a, r) => a + r.promptTokens, 0);
    const cached = mine.reduce((a, r) => a + r.cachedTokens, 0);
    return {
      id: rep.id,
      profile: rep.profile,
      requests: mine.length,
      prompt_tokens: prompt,
      prefill_tokens: prompt - cached,
      hit_pct: pct(cached, prompt),
      output_tokens: mine.reduce((a, r) => a + r.outputTokens, 0),
      preemptions: rep.preemptions,
      refused: rep.refused,
    };
  });
  return {
    policy: run.policy,
    source: run.source,
    summary: figures(run.records, slo),
    stages,
    replicas,
    vllm_waiting_mean: run.waitingMean,
    balance: { requests_max_over_mean: maxOverMean(replicas.map((r) => r.requests)), prefill_max_over_mean: maxOverMean(replicas.map((r) => r.prefill_tokens)) },
    simulated_s: run.simulatedMs / 1000,
    events: run.events,
  };
}

/**
 * The report as stable JSON: numbers rounded to 3 decimals (so the text does not depend on the
 * last bits of float summation), NaN as null. Same inputs and seed give the same bytes.
 */
export function reportJson(r: unknown): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' ? (Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null) : v));
}

const f = (v: number | null | undefined, d = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));

function table(rows: string[][]): string {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((r, i) => r.map((v, c) => (v ?? '').padEnd(w[c])).join('  ').trimEnd() + (i === 0 ? `\n${w.map((n) => '-'.repeat(n)).join('  ')}` : '')).join('\n');
}

/** "503×26 · 400×2" (largest first), or "—" when there were none. */
export function errorsByStatus(byStatus: Record<string, number>): string {
  const parts = Object.entries(byStatus).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return parts.length === 0 ? '—' : parts.map(([status, n]) => `${status}×${n}`).join(' · ');
}

/** Human tables: policies side by side, then TTFT p90 and hit rate per stage. */
export function formatReport(r: SimulateReport): string {
  const ps = r.policies;
  const s = (p: PolicyReport) => p.summary;
  const rows: string[][] = [
    ['', ...ps.map((p) => p.policy)],
    ['requests ok / total', ...ps.map((p) => `${s(p).ok} / ${s(p).requests}`)],
    // Failed requests say why (e.g. 503: dropped from the gateway queue; 400: over max_model_len).
    ...(ps.some((p) => s(p).errors > 0) ? [['errors by HTTP status', ...ps.map((p) => errorsByStatus(s(p).errors_by_status))]] : []),
    ['throughput req/s', ...ps.map((p) => f(s(p).throughput_rps, 2))],
    ['input / output tokens/s', ...ps.map((p) => `${f(s(p).input_tokens_per_s, 0)} / ${f(s(p).output_tokens_per_s, 0)}`)],
    ['goodput req/s', ...ps.map((p) => f(s(p).goodput_rps, 2))],
    ['TTFT ms p50 / p90 / p99', ...ps.map((p) => `${f(s(p).ttft_ms.p50)} / ${f(s(p).ttft_ms.p90)} / ${f(s(p).ttft_ms.p99)}`)],
    ['TTFT ms mean', ...ps.map((p) => f(s(p).ttft_ms.mean))],
    ['TPOT ms p50 / p90', ...ps.map((p) => `${f(s(p).tpot_ms.p50, 2)} / ${f(s(p).tpot_ms.p90, 2)}`)],
    ['E2E ms p50 / p90', ...ps.map((p) => `${f(s(p).e2e_ms.p50, 0)} / ${f(s(p).e2e_ms.p90, 0)}`)],
    ['engine queue ms p50 / p90', ...ps.map((p) => `${f(s(p).queue_ms.p50)} / ${f(s(p).queue_ms.p90)}`)],
    ['hit % (oracle %)', ...ps.map((p) => `${f(s(p).hit_pct)} (${f(s(p).oracle_hit_pct)})`)],
    ['preemptions', ...ps.map((p) => String(s(p).preemptions))],
    ['vLLM waiting queue mean', ...ps.map((p) => f(p.vllm_waiting_mean, 1))],
    ['balance max/mean req · prefill', ...ps.map((p) => `${f(p.balance.requests_max_over_mean, 2)} · ${f(p.balance.prefill_max_over_mean, 2)}`)],
    ['requests per replica', ...ps.map((p) => p.replicas.map((x) => x.requests).join('/'))],
    // Attempts a replica refused (400 over its max_model_len), failovers included: a mixed-window fleet's misroutes.
    ...(ps.some((p) => p.replicas.some((x) => x.refused > 0)) ? [['refused per replica', ...ps.map((p) => p.replicas.map((x) => x.refused).join('/'))]] : []),
    ['simulated s (events)', ...ps.map((p) => `${f(p.simulated_s, 1)} (${p.events})`)],
  ];
  let out = table(rows);
  const stages = [...new Set(ps.flatMap((p) => p.stages.map((st) => st.stage)))].sort((a, b) => a - b);
  if (stages.length > 1) {
    const srows: string[][] = [['stage', 'offered rps', ...ps.map((p) => `${p.policy}: TTFT p90 ms · hit %`)]];
    for (const st of stages) {
      const offered = ps.map((p) => p.stages.find((x) => x.stage === st)?.offered_rps).find((v) => v !== undefined);
      srows.push([
        String(st + 1),
        f(offered ?? null, 1),
        ...ps.map((p) => {
          const x = p.stages.find((y) => y.stage === st);
          return x ? `${f(x.ttft_ms.p90, 0)} · ${f(x.hit_pct)}` : '—';
        }),
      ]);
    }
    out += `\n\nper stage (TTFT p90 ms · prefix hit %)\n${table(srows)}`;
  }
  return out;
}
