import { z } from 'zod';
import { parseGoDurationMs } from './go-duration.js';

/**
 * llm-d-inference-sim's `--fake-metrics` (docs/configuration.md, "Fake metrics"): values reported
 * on /metrics instead of the real ones. Gauges take a number or `fn:start:end:period` with fn one
 * of oscillate | ramp | rampreset | squarewave; histogram fields are per-bucket sample counts
 * (trailing buckets default to 0); counters are initial totals.
 */
export const FAKE_FUNCTIONS = ['oscillate', 'ramp', 'rampreset', 'squarewave'] as const;

export interface FakeFunction {
  fn: (typeof FAKE_FUNCTIONS)[number];
  start: number;
  end: number;
  periodMs: number;
}

/** A gauge value: a constant or a generator of time. */
export type FakeValue = number | FakeFunction;

export function parseFakeFunction(text: string): FakeFunction {
  const parts = text.split(':');
  if (parts.length !== 4) throw new Error(`need func:start:end:period in fake metric generation function, got "${text}"`);
  const [fn, a, b, p] = parts;
  if (!(FAKE_FUNCTIONS as readonly string[]).includes(fn)) throw new Error(`unknown fake metric function "${fn}" (${FAKE_FUNCTIONS.join(', ')})`);
  const start = Number(a);
  const end = Number(b);
  const periodMs = parseGoDurationMs(p);
  if (!Number.isFinite(start) || !Number.isFinite(end)) throw new Error(`fake metric function "${text}": start and end must be numbers`);
  if (periodMs === null || periodMs <= 0) throw new Error(`fake metric function "${text}": period must be a positive duration`);
  return { fn: fn as FakeFunction['fn'], start, end, periodMs };
}

/** Value of a generator `tMs` after start (llm-d-inference-sim's oscillate/ramp/rampreset/squarewave). */
export function fakeValueAt(v: FakeValue, tMs: number): number {
  if (typeof v === 'number') return v;
  const { fn, start, end, periodMs } = v;
  switch (fn) {
    case 'oscillate':
      return (start + end) / 2 + ((end - start) / 2) * Math.sin((2 * Math.PI * tMs) / periodMs);
    case 'ramp':
      return tMs >= periodMs ? end : start + (tMs / periodMs) * (end - start);
    case 'rampreset':
      return start + ((tMs % periodMs) / periodMs) * (end - start);
    case 'squarewave':
      return tMs % periodMs < periodMs / 2 ? start : end;
  }
}

const gaugeValue = z.union([z.number().min(0), z.string()]).transform((v, ctx): FakeValue => {
  if (typeof v === 'number') return v;
  const n = Number(v);
  if (v.trim() !== '' && Number.isFinite(n)) {
    if (n < 0) ctx.addIssue({ code: 'custom', message: 'fake metrics values cannot be negative' });
    return n;
  }
  try {
    return parseFakeFunction(v.trim());
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
const buckets = z.array(z.number().int().min(0, 'fake bucket values cannot be negative'));
const total = z.number().int().min(0);
const loraEntry = z.union([z.string(), z.record(z.string(), z.unknown())]).transform((v, ctx) => {
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `loras entry is not JSON: ${v}` });
      return z.NEVER;
    }
  }
  const r = z.object({ running: z.string().default(''), waiting: z.string().default(''), timestamp: z.number() }).safeParse(o);
  if (!r.success) {
    ctx.addIssue({ code: 'custom', message: 'loras entries need running, waiting and timestamp' });
    return z.NEVER;
  }
  return r.data;
});

export const FakeMetricsSchema = z
  .object({
    'running-requests': gaugeValue.optional(),
    'waiting-requests': gaugeValue.optional(),
    'kv-cache-usage': gaugeValue.optional(),
    loras: z.array(loraEntry).optional(),
    'ttft-buckets-values': buckets.optional(),
    'tpot-buckets-values': buckets.optional(),
    'e2erl-buckets-values': buckets.optional(),
    'queue-time-buckets-values': buckets.optional(),
    'inf-time-buckets-values': buckets.optional(),
    'prefill-time-buckets-values': buckets.optional(),
    'decode-time-buckets-values': buckets.optional(),
    'request-tpot-buckets-values': buckets.optional(),
    'request-prompt-tokens': buckets.optional(),
    'request-generation-tokens': buckets.optional(),
    'request-max-generation-tokens': buckets.optional(),
    'request-params-max-tokens': buckets.optional(),
    'request-success-total': z.record(z.string(), total).optional(),
    'total-prompt-tokens': total.optional(),
    'total-generation-tokens': total.optional(),
    'prefix-cache-hits': total.optional(),
    'prefix-cache-queries': total.optional(),
  })
  .strict()
  .superRefine((f, ctx) => {
    const kv = f['kv-cache-usage'];
    const bad = typeof kv === 'number' ? kv > 1 : kv !== undefined && (kv.start < 0 || kv.start > 1 || kv.end < 0 || kv.end > 1);
    if (bad) ctx.addIssue({ code: 'custom', path: ['kv-cache-usage'], message: 'fake metrics KV cache usage must be between 0 and 1' });
    for (const reason of Object.keys(f['request-success-total'] ?? {})) {
      if (!['stop', 'length', 'tool_calls', 'remote_decode', 'cache_threshold', 'abort', 'error', 'repetition'].includes(reason)) {
        ctx.addIssue({ code: 'custom', path: ['request-success-total'], message: `invalid finish reason in request-success-total: ${reason}` });
      }
    }
  });

export type FakeMetrics = z.infer<typeof FakeMetricsSchema>;
export type FakeMetricsInput = z.input<typeof FakeMetricsSchema>;

/** Partial update (absent or null = unchanged; [] or {} clears a list or map), as llm-d-inference-sim applies one. */
export function mergeFakeMetrics(base: FakeMetrics, patch: Record<string, unknown>): FakeMetrics {
  const cleaned = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null && v !== undefined));
  const parsed = FakeMetricsSchema.parse(cleaned);
  return { ...base, ...parsed };
}
