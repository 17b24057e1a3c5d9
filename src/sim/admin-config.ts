import { KvgateError, ErrorCode } from '../shared/errors.js';
import { FAILURE_TYPES, type FailureType } from './options.js';
import { parseGoDurationMs } from './go-duration.js';
import type { LatencySettings } from './latency-settings.js';

/** Latency settings /admin/config may change, by their llm-d-inference-sim key. */
const LATENCY_KEYS: Record<string, keyof LatencySettings> = {
  'time-to-first-token': 'timeToFirstToken',
  'time-to-first-token-std-dev': 'timeToFirstTokenStdDev',
  'inter-token-latency': 'interTokenLatency',
  'inter-token-latency-std-dev': 'interTokenLatencyStdDev',
  'prefill-overhead': 'prefillOverhead',
  'prefill-time-per-token': 'prefillTimePerToken',
  'prefill-time-std-dev': 'prefillTimeStdDev',
  'kv-cache-transfer-latency': 'kvCacheTransferLatency',
  'kv-cache-transfer-latency-std-dev': 'kvCacheTransferLatencyStdDev',
  'kv-cache-transfer-time-per-token': 'kvCacheTransferTimePerToken',
  'kv-cache-transfer-time-std-dev': 'kvCacheTransferTimeStdDev',
};

/** kvgate's own step-model keys (milliseconds), kept from its first release. */
const STEP_KEYS = { 'step-base-ms': 'stepBaseMs', 'prefill-ms-per-token': 'prefillMsPerToken', 'decode-ms-per-seq': 'decodeMsPerSeq' } as const;

/** A validated /admin/config update: only the fields present in the body. */
export interface AdminPatch {
  failureInjectionRate?: number;
  failureTypes?: FailureType[];
  latency: Partial<LatencySettings>;
  step: Partial<Record<(typeof STEP_KEYS)[keyof typeof STEP_KEYS], number>>;
  fakeMetrics?: Record<string, unknown>;
}

function bad(message: string, param: string): KvgateError {
  return new KvgateError(ErrorCode.InvalidRequest, message, { param });
}

/** A duration value: milliseconds as a number, or a Go duration string ("250ms", "1.5s"). */
function durationMs(key: string, v: unknown): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? parseGoDurationMs(v) : null;
  if (ms === null || !(ms >= 0)) throw bad(`field "${key}": invalid duration ${JSON.stringify(v)} (a Go duration such as "250ms", or milliseconds)`, key);
  return ms;
}

/**
 * Parses a POST /admin/config body. Keys are accepted with hyphens (llm-d-inference-sim's
 * spelling) or underscores (kvgate's first spelling); any other key, or a value that does not
 * validate, is a 400 and nothing changes.
 */
export function parseAdminPatch(body: Record<string, unknown>): AdminPatch {
  const patch: AdminPatch = { latency: {}, step: {} };
  for (const [rawKey, v] of Object.entries(body)) {
    const key = rawKey.replace(/_/g, '-');
    if (key in LATENCY_KEYS) {
      (patch.latency as Record<string, number>)[LATENCY_KEYS[key]] = durationMs(rawKey, v);
    } else if (key in STEP_KEYS) {
      if (typeof v !== 'number' || !(v >= 0)) throw bad(`${rawKey} must be a number >= 0`, rawKey);
      patch.step[STEP_KEYS[key as keyof typeof STEP_KEYS]] = v;
    } else if (key === 'failure-injection-rate') {
      if (typeof v !== 'number' || !(v >= 0 && v <= 100)) throw bad(`${rawKey}: failure injection rate should be between 0 and 100`, rawKey);
      patch.failureInjectionRate = v;
    } else if (key === 'failure-types') {
      if (!Array.isArray(v)) throw bad(`${rawKey} must be an array`, rawKey);
      for (const t of v) {
        if (!(FAILURE_TYPES as readonly unknown[]).includes(t)) throw bad(`invalid failure type '${String(t)}', valid types are: ${FAILURE_TYPES.join(', ')}`, rawKey);
      }
      patch.failureTypes = v as FailureType[];
    } else if (key === 'time-factor-under-load') {
      if (typeof v !== 'number' || !(v >= 1)) throw bad('time factor under load cannot be less than 1.0', rawKey);
      patch.latency.timeFactorUnderLoad = v;
    } else if (key === 'latency-calculator') {
      if (typeof v !== 'string') throw bad(`${rawKey} must be a string`, rawKey);
      patch.latency.latencyCalculator = v as LatencySettings['latencyCalculator'];
    } else if (key === 'fake-metrics') {
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`${rawKey} must be an object`, rawKey);
      patch.fakeMetrics = v as Record<string, unknown>;
    } else {
      throw bad(`field '${rawKey}' is not admin-configurable`, rawKey);
    }
  }
  return patch;
}
