/** Latency summary the reports use: mean and nearest-rank percentiles. */
export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100). NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function summarize(values: number[]): Summary {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return { count: s.length, mean, p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length ? s[s.length - 1] : NaN };
}

export { createRng as seededRandom } from '../shared/rng.js';

/** Poisson arrivals: exponential gaps with mean 1/rate seconds, in ms. */
export function poissonGapsMs(rate: number, n: number, random: () => number): number[] {
  return Array.from({ length: n }, () => (-Math.log(1 - random()) / rate) * 1000);
}
