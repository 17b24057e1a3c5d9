import { percentile } from '../bench/stats.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import type { RequestRecord } from './run-policy.js';
import { tpotOf } from './report.js';

/** Per-request limits (ms): a request meets the SLO when it is within all of them (goodput). */
export interface RequestSlo {
  ttftMs?: number;
  tpotMs?: number;
  e2eMs?: number;
}

/** A limit on a percentile of a metric over a run, e.g. TTFT p90 ≤ 2,000 ms. */
export interface PercentileTarget {
  metric: 'ttft' | 'tpot' | 'e2e';
  percentile: number;
  maxMs: number;
}

export interface Slo {
  request: RequestSlo;
  percentiles: PercentileTarget[];
  text: string;
}

function ms(v: string, key: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new KvgateError(ErrorCode.InvalidConfig, `--slo ${key}: "${v}" is not a duration (500, 500ms, 2s)`, { param: 'slo' });
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
}

/**
 * Parses `--slo`: comma-separated `metric=duration` (a per-request limit: `ttft=500,tpot=50`, ms
 * unless a unit is given) and `metric_pNN=duration` (a percentile target: `ttft_p90=2s`). Metrics:
 * ttft, tpot, e2e. A percentile target also counts as the per-request limit for goodput when no
 * plain limit names that metric.
 */
export function parseSlo(text: string): Slo {
  const slo: Slo = { request: {}, percentiles: [], text };
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [key, value] = part.split('=');
    const m = /^(ttft|tpot|e2e)(?:_p(\d{1,2}(?:\.\d+)?))?$/.exec(key ?? '');
    if (!m || value === undefined) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--slo: "${part}" — use metric=duration or metric_pNN=duration with metric ttft, tpot or e2e (e.g. ttft_p90=2s,tpot_p90=50ms)`, { param: 'slo' });
    }
    const metric = m[1] as PercentileTarget['metric'];
    const limit = ms(value, key);
    if (m[2] !== undefined) {
      const p = Number(m[2]);
      if (!(p > 0 && p < 100)) throw new KvgateError(ErrorCode.InvalidConfig, `--slo ${key}: the percentile must be between 0 and 100`, { param: 'slo' });
      slo.percentiles.push({ metric, percentile: p, maxMs: limit });
    } else slo.request[`${metric}Ms`] = limit;
  }
  for (const t of slo.percentiles) slo.request[`${t.metric}Ms`] ??= t.maxMs;
  return slo;
}

/** The measured value of each percentile target over `records` (NaN when nothing succeeded). */
export function percentileValues(records: RequestRecord[], targets: PercentileTarget[]): { target: PercentileTarget; valueMs: number; met: boolean }[] {
  const ok = records.filter((r) => r.ok);
  return targets.map((target) => {
    const values = ok.map((r) => (target.metric === 'ttft' ? (r.ttftMs ?? NaN) : target.metric === 'tpot' ? (tpotOf(r) ?? NaN) : r.e2eMs));
    const v = percentile(values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b), target.percentile);
    return { target, valueMs: v, met: Number.isFinite(v) && v <= target.maxMs };
  });
}
