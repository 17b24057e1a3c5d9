import { percentile } from '../bench/stats.js';
import type { PercentileTarget } from '../bench/specs.js';
import type { RequestRecord } from './run-policy.js';
import { tpotOf } from './report.js';

// The --slo parser and its types are kvgate bench's too (one spelling in real and virtual time).
export { parseSlo, type Slo, type RequestSlo, type PercentileTarget } from '../bench/specs.js';

/** The measured value of each percentile target over `records` (NaN when nothing succeeded). */
export function percentileValues(records: RequestRecord[], targets: PercentileTarget[]): { target: PercentileTarget; valueMs: number; met: boolean }[] {
  const ok = records.filter((r) => r.ok);
  return targets.map((target) => {
    const values = ok.map((r) => (target.metric === 'ttft' ? (r.ttftMs ?? NaN) : target.metric === 'tpot' ? (tpotOf(r) ?? NaN) : r.e2eMs));
    const v = percentile(values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b), target.percentile);
    return { target, valueMs: v, met: Number.isFinite(v) && v <= target.maxMs };
  });
}
