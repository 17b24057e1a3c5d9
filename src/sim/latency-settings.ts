import type { LatencyModel } from '../engine/index.js';
import { gaussianClamped } from '../engine/jitter.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { LATENCY_CALCULATORS } from './options.js';

/**
 * llm-d-inference-sim's latency settings (docs/latency-simulation.md), in ms. kvgate's engine
 * runs steps, so they become the step model: inter-token latency is the decode step, the
 * constant calculator's TTFT (or the per-token calculator's overhead + n·per-token) is the prefill
 * part of the step that ends a prefill, std-devs jitter those parts, the load factor scales steps.
 */
export interface LatencySettings {
  latencyCalculator: (typeof LATENCY_CALCULATORS)[number];
  timeToFirstToken?: number;
  timeToFirstTokenStdDev: number;
  interTokenLatency?: number;
  interTokenLatencyStdDev: number;
  prefillOverhead?: number;
  prefillTimePerToken?: number;
  prefillTimeStdDev: number;
  kvCacheTransferLatency: number;
  kvCacheTransferLatencyStdDev: number;
  kvCacheTransferTimePerToken: number;
  kvCacheTransferTimeStdDev: number;
  timeFactorUnderLoad: number;
}

/** Which prefill formula applies: the calculator, or llm-d-inference-sim's legacy precedence when unset. */
function prefillForm(s: LatencySettings): 'constant' | 'per-token' | 'profile' {
  if (s.latencyCalculator) return s.latencyCalculator;
  if (s.timeToFirstToken !== undefined || s.timeToFirstTokenStdDev > 0) return 'constant';
  if (s.prefillOverhead !== undefined || s.prefillTimePerToken !== undefined || s.prefillTimeStdDev > 0) return 'per-token';
  return 'profile';
}

/** The engine's step model for a profile's `base` under these settings (unset settings keep the profile's numbers). */
export function latencyModelFor(base: LatencyModel, s: LatencySettings): LatencyModel {
  const m: LatencyModel = { ...base, decodeStdDevMs: s.interTokenLatencyStdDev, prefillStdDevMs: 0, timeFactorUnderLoad: s.timeFactorUnderLoad };
  if (s.interTokenLatency !== undefined) Object.assign(m, { stepBaseMs: s.interTokenLatency, decodeMsPerSeq: 0, contextMsPerToken: 0 });
  // The prefill-ending step also pays the step base (one decode step), so the prefill part is what
  // is left of the configured TTFT / overhead after it.
  switch (prefillForm(s)) {
    case 'constant':
      Object.assign(m, { prefillOverheadMs: Math.max(0, (s.timeToFirstToken ?? 0) - m.stepBaseMs), prefillMsPerToken: 0, prefillStdDevMs: s.timeToFirstTokenStdDev });
      break;
    case 'per-token':
      Object.assign(m, { prefillOverheadMs: Math.max(0, (s.prefillOverhead ?? 0) - m.stepBaseMs), prefillMsPerToken: s.prefillTimePerToken ?? 0, prefillStdDevMs: s.prefillTimeStdDev });
      break;
    default:
      break;
  }
  return m;
}

/**
 * Time to pull an `n`-token prompt's KV from a prefill instance (P/D decode side): the constant
 * `kv-cache-transfer-latency`, or n × `kv-cache-transfer-time-per-token` (full n: cache hits do
 * not shorten it), jittered; never scaled by load (llm-d-inference-sim's rules).
 */
export function kvTransferMs(s: LatencySettings, n: number, rng: () => number): number {
  const constant = s.latencyCalculator === 'constant' || (s.latencyCalculator === '' && (s.kvCacheTransferLatency > 0 || s.kvCacheTransferLatencyStdDev > 0));
  return constant
    ? gaussianClamped(rng, s.kvCacheTransferLatency, s.kvCacheTransferLatencyStdDev)
    : gaussianClamped(rng, n * s.kvCacheTransferTimePerToken, s.kvCacheTransferTimeStdDev);
}

/** Startup and /admin/config validation, with llm-d-inference-sim's wording. */
export function validateLatencySettings(s: LatencySettings): void {
  const fail = (msg: string, param: string) => {
    throw new KvgateError(ErrorCode.InvalidRequest, msg, { param });
  };
  const sd = (mean: number | undefined, dev: number, what: string, param: string) => {
    if (dev > 0.3 * (mean ?? 0)) fail(`${what} standard deviation cannot be more than 30% of ${what}`, param);
  };
  for (const [k, v] of Object.entries(s)) if (typeof v === 'number' && !(v >= 0)) fail(`${k} cannot be negative`, k);
  sd(s.timeToFirstToken, s.timeToFirstTokenStdDev, 'time to first token', 'time-to-first-token-std-dev');
  sd(s.interTokenLatency, s.interTokenLatencyStdDev, 'inter token latency', 'inter-token-latency-std-dev');
  sd(s.kvCacheTransferLatency, s.kvCacheTransferLatencyStdDev, 'kv-cache transfer', 'kv-cache-transfer-latency-std-dev');
  if (s.timeFactorUnderLoad < 1) fail('time factor under load cannot be less than 1.0', 'time-factor-under-load');
  if (!(LATENCY_CALCULATORS as readonly string[]).includes(s.latencyCalculator)) {
    fail(`unknown latency-calculator ${s.latencyCalculator}, supported calculators are: constant and per-token`, 'latency-calculator');
  }
}
