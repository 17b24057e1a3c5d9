import type { EndpointMetrics, EndpointState } from '../api.js';
import type { CycleContext } from './types.js';

/** The endpoint's metrics if fresh enough to trust, else undefined (stale counts as unknown). */
export function freshMetrics(ep: EndpointState, ctx: CycleContext, maxAgeMs = ctx.staleAfterMs): EndpointMetrics | undefined {
  const m = ep.metrics;
  if (!m || ctx.nowMs - m.updatedAtMs > maxAgeMs) return undefined;
  return m;
}

/** (max − v)/(max − min) over the finite values; all equal → 1; non-finite (unknown) → 0. */
export function minMaxLowerIsBetter(values: number[]): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return values.map((v) => (!Number.isFinite(v) ? 0 : max === min ? 1 : (max - v) / (max - min)));
}

/** Parses Go-style durations used in EPP configs ("200ms", "2s") into milliseconds. */
export function durationMs(v: string | number): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v.trim());
  if (!m) throw new Error(`invalid duration "${v}" (use e.g. 200ms or 2s)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
}
