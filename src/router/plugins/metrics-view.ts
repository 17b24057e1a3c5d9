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

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration string as EPP configs carry them ("200ms", "2s", "1m30s", "0.5h", "0") in ms; undefined when it is not one. */
export function parseDurationMs(v: string): number | undefined {
  const t = v.trim();
  if (t === '0') return 0;
  const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let ms = 0;
  let at = 0;
  while (at < t.length) {
    part.lastIndex = at;
    const m = part.exec(t);
    if (!m) return undefined;
    ms += Number(m[1]) * UNIT_MS[m[2]];
    at = part.lastIndex;
  }
  return at > 0 ? ms : undefined;
}

/** A duration parameter: a Go duration string or a number of milliseconds. */
export function durationMs(v: string | number): number {
  if (typeof v === 'number') return v;
  const ms = parseDurationMs(v);
  if (ms === undefined) throw new Error(`invalid duration "${v}" (use e.g. 200ms, 2s or 1m30s)`);
  return ms;
}
