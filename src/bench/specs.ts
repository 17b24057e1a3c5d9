import { KvgateError, ErrorCode } from '../shared/errors.js';
import { MAX_NUM_REQUESTS } from './workloads.js';

/**
 * The load and goal specs `kvgate bench` and `kvgate simulate` both take, parsed once so one
 * spelling means the same in real and in virtual time.
 */

/**
 * Highest open-loop rate (--rate, --stages and --sweep rates): 1,000,000 requests/s, the most
 * requests one run holds (workloads.ts's MAX_NUM_REQUESTS) in its first second; far past any
 * serving fleet. `kvgate simulate --rate 1e9` crawled through its arrivals for hours.
 */
export const MAX_RATE_RPS = 1_000_000;

/**
 * Lowest open-loop rate (--rate, --stages and --sweep rates): 0.001 requests/s, one request in
 * about 17 minutes on average. Below it a stage of any usual length sends nothing, and the run
 * said so only after it had run (`--stages 0.0001:10`).
 */
export const MIN_RATE_RPS = 0.001;

/**
 * Longest stage (--stages seconds): 2,147,483.647 s (596 h), --duration's limit: the longest timer
 * Node holds (a longer delay fires after 1 ms), src/cli/parse.ts's MAX_DURATION_MS.
 */
export const MAX_STAGE_SECONDS = (2 ** 31 - 1) / 1000;

/** How --help states a stage's bounds. */
export const STAGE_BOUNDS = `rate in requests/s, ${MIN_RATE_RPS} to ${MAX_RATE_RPS.toLocaleString('en-US')}; seconds more than 0, at most 596h (${MAX_STAGE_SECONDS.toLocaleString('en-US')} s)`;

/** A rate of `flag` above MAX_RATE_RPS: the InvalidConfig naming the flag and the limit, else undefined. */
export function rateOverLimit(rate: number, flag: string): KvgateError | undefined {
  if (rate <= MAX_RATE_RPS) return undefined;
  return new KvgateError(ErrorCode.InvalidConfig, `${flag}: a rate of ${rate} requests/s is more than the ${MAX_RATE_RPS.toLocaleString('en-US')} requests/s a run takes`, { param: flag.slice(2) });
}

/**
 * inference-perf's `rate:duration` stages ("3:60,10:30"), seconds; both must be positive, rates
 * from MIN_RATE_RPS to MAX_RATE_RPS, durations at most MAX_STAGE_SECONDS. Throws InvalidConfig
 * naming --stages and the bad stage (its number and text). bench and simulate call it as --stages'
 * option parser, so a bad stage stops the command before any work.
 */
export function parseStages(v: string): { rate: number; durationS: number }[] {
  return v.split(',').map((part, i) => {
    const m = /^(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)s?$/.exec(part.trim());
    if (!m || !(Number(m[1]) > 0) || !(Number(m[2]) > 0)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--stages entries look like rate:seconds with both positive, e.g. 3:60,10:30 (got "${part}")`, { param: 'stages' });
    }
    const [rate, durationS] = [Number(m[1]), Number(m[2])];
    const tooHigh = rateOverLimit(rate, '--stages');
    if (tooHigh) throw tooHigh;
    const stage = `stage ${i + 1} ("${part.trim()}")`;
    if (rate < MIN_RATE_RPS) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--stages: ${stage}: a rate of ${rate} requests/s is less than the ${MIN_RATE_RPS} requests/s a stage takes (it would send no request)`, { param: 'stages' });
    }
    if (durationS > MAX_STAGE_SECONDS) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--stages: ${stage}: ${durationS} s is longer than the 596h (${MAX_STAGE_SECONDS.toLocaleString('en-US')} s) a stage takes`, { param: 'stages' });
    }
    return { rate, durationS };
  });
}

/**
 * `--stages`' commander parser: the text, checked by parseStages (bench and simulate parse it again
 * where they build the load). Its KvgateError passes commander by (not an InvalidArgumentError),
 * so the CLI prints it as `kvgate: --stages: …`, the wording it had when checked in the action.
 */
export function stagesArg(v: string): string {
  parseStages(v);
  return v;
}

/**
 * An open loop sends about Σ rate × seconds requests, each held with its result until the run
 * ends: past MAX_NUM_REQUESTS (what --num-requests and the shape flags also stop at) memory grew
 * for minutes before anything was printed (`simulate --rate 500000 --duration 10s`). `kvgate
 * simulate` and `kvgate bench` refuse it up front: InvalidConfig naming `flags` (e.g. "--stages",
 * "--rate × --duration"); its param is the first flag's name.
 */
export function refuseOverlongLoad(stages: { rate: number; durationS: number }[], flags: string): void {
  const expected = stages.reduce((sum, st) => sum + st.rate * st.durationS, 0);
  if (expected <= MAX_NUM_REQUESTS) return;
  throw new KvgateError(
    ErrorCode.InvalidConfig,
    `${flags}: about ${Math.round(expected).toLocaleString('en-US')} requests, more than the ${MAX_NUM_REQUESTS.toLocaleString('en-US')} a run holds: lower the rate or the duration`,
    { param: flags.split(' ')[0].slice(2) },
  );
}

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
 * Parses `--slo` (kvgate bench and kvgate simulate): comma-separated `metric=duration` (a
 * per-request limit: `ttft=500,tpot=50`, ms unless a unit is given) and `metric_pNN=duration` (a
 * percentile target: `ttft_p90=2s`). Metrics: ttft, tpot, e2e. A percentile target also counts as
 * the per-request limit for goodput when no plain limit names that metric.
 */
export function parseSlo(text: string): Slo {
  const slo: Slo = { request: {}, percentiles: [], text };
  const seen = new Map<string, string>();
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    // Split at the first '=' only: `ttft_p90=5=6` is a bad duration "5=6", not ttft_p90=5.
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const m = /^(ttft|tpot|e2e)(?:_p(\d+(?:\.\d+)?))?$/.exec(key);
    if (!m || eq < 0) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--slo: "${part}" — use metric=duration or metric_pNN=duration with metric ttft, tpot or e2e (e.g. ttft_p90=2s,tpot_p90=50ms)`, { param: 'slo' });
    }
    const metric = m[1] as PercentileTarget['metric'];
    const limit = ms(part.slice(eq + 1), key);
    const p = m[2] === undefined ? undefined : Number(m[2]);
    if (p !== undefined && !(p > 0 && p < 100)) throw new KvgateError(ErrorCode.InvalidConfig, `--slo ${key}: the percentile must be between 0 and 100 (got ${m[2]})`, { param: 'slo' });
    // One limit per target: a second one (ttft_p90 twice, or ttft_p90 and ttft_p90.0) was kept beside the first (plan sized for both) or silently replaced it.
    const id = p === undefined ? metric : `${metric}_p${p}`;
    const first = seen.get(id);
    if (first !== undefined) throw new KvgateError(ErrorCode.InvalidConfig, `--slo: ${key} is given twice ("${first}" and "${part}"): give each target once`, { param: 'slo' });
    seen.set(id, part);
    if (p !== undefined) slo.percentiles.push({ metric, percentile: p, maxMs: limit });
    else slo.request[`${metric}Ms`] = limit;
  }
  for (const t of slo.percentiles) slo.request[`${t.metric}Ms`] ??= t.maxMs;
  return slo;
}
