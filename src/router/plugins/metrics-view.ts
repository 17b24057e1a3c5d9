import type { EndpointMetrics, EndpointState } from '../api.js';
import type { CycleContext } from './types.js';
import { parseGoDurationMs } from '../../shared/go-duration.js';

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

/** A Go duration string as EPP configs carry them, in ms (shared/go-duration.ts); undefined when it is not one. */
export const parseDurationMs = parseGoDurationMs;

/** A duration parameter: a Go duration string or a number of milliseconds. */
export function durationMs(v: string | number): number {
  if (typeof v === 'number') return v;
  const ms = parseDurationMs(v);
  if (ms === undefined) throw new Error(`invalid duration "${v}" (use e.g. 200ms, 2s or 1m30s)`);
  return ms;
}
