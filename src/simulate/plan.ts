import { loadPrices } from '../cost/prices.js';
import { computeCost, formatUsd, type CostFigures } from '../cost/cost-model.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { fleetOf, simulateOptionsOf, type SimulateFlags } from './options.js';
import { workloadOf, type Policy } from './simulate.js';
import { runPolicy } from './run-policy.js';
import { checkFleetSize } from './fleet.js';
import { refuseSeedSpan } from '../shared/seed.js';
import { RequestPreparer } from './requests.js';
import { errorsByStatus, figures, reportJson } from './report.js';
import { percentileValues, type Slo } from './slo.js';
import { loadProfile } from '../engine/index.js';
import { formatErrorMessages, type ErrorMessageCount } from '../bench/error-messages.js';

export interface PlanFlags extends SimulateFlags {
  maxReplicas: number;
  accelerator?: string;
  acceleratorsPerReplica?: number;
  replicaHourly?: number;
  pricing: string;
  hoursPerMonth: number;
  prices?: string;
}

/** What one replica of a shipped profile runs on, in the price book's items. */
const PROFILE_HARDWARE: Record<string, { item: string; units: number }> = {
  'qwen3-32b-h100-tp2': { item: 'nvidia-h100-gpu', units: 2 },
  'llama3-8b-h100': { item: 'nvidia-h100-gpu', units: 1 },
  'qwen2.5-3b-tpu-v6e': { item: 'tpu-v6e-chip', units: 4 },
};

export interface PlanTry {
  replicas: number;
  /** Every request succeeded and every percentile target held (percentiles are over successes only, so a failure is never a pass). */
  met: boolean;
  requests: number;
  /** Requests that got no 2xx answer (e.g. 400: prompt over max-model-len; 503: dropped from the gateway queue). */
  failed: number;
  /** Failed requests by HTTP status, e.g. {"400": 3}. */
  errors_by_status: Record<string, number>;
  /** Distinct error messages, most common first (as `kvgate bench` reports them). */
  error_messages: ErrorMessageCount[];
  values: { metric: string; value_ms: number | null; max_ms: number }[];
}

export interface PolicyPlan {
  policy: string;
  /** Fewest replicas meeting the SLO, or null when even --max-replicas did not. */
  replicas: number | null;
  /** Failed requests at `replicas` (0 by definition), or at the largest size tried when none met the SLO. */
  failed: number;
  errors_by_status: Record<string, number>;
  tries: PlanTry[];
  throughput_rps: number | null;
  output_tokens_mean: number | null;
  cost: CostFigures | null;
}

export interface Plan {
  kvgate_simulate_plan: 1;
  slo: string;
  profile: string;
  replica_hourly_usd: number;
  replica_price: string;
  hours_per_month: number;
  load: Record<string, unknown>;
  policies: PolicyPlan[];
}

/** The price book of --prices (or the shipped one); a file that cannot be read or parsed is an error naming --prices. */
function pricesOf(file: string | undefined): ReturnType<typeof loadPrices> {
  try {
    return loadPrices(file);
  } catch (err) {
    if (file === undefined || !(err instanceof KvgateError)) throw err;
    throw new KvgateError(ErrorCode.InvalidConfig, `--prices ${err.message}`, { param: 'prices' });
  }
}

/** $/hour of one replica: --replica-hourly, or the price book's accelerator price × accelerators per replica. */
export function replicaHourly(f: PlanFlags, profile: string): { hourly: number; detail: string } {
  if (f.replicaHourly !== undefined) return { hourly: f.replicaHourly, detail: `given --replica-hourly $${f.replicaHourly}` };
  const book = pricesOf(f.prices);
  let item: string;
  let units = f.acceleratorsPerReplica;
  if (f.accelerator) {
    const acc = book.accelerators[f.accelerator];
    if (!acc) throw new KvgateError(ErrorCode.InvalidConfig, `unknown --accelerator "${f.accelerator}" (known: ${Object.keys(book.accelerators).join(', ')})`, { param: 'accelerator' });
    item = acc.item;
    units ??= PROFILE_HARDWARE[profile]?.item === item ? PROFILE_HARDWARE[profile].units : 1;
  } else {
    const hw = PROFILE_HARDWARE[profile];
    if (!hw) throw new KvgateError(ErrorCode.InvalidConfig, `profile ${profile} has no known hardware: give --accelerator or --replica-hourly`, { param: 'accelerator' });
    item = hw.item;
    units ??= hw.units;
  }
  const it = book.items.find((i) => i.id === item)!;
  const unit = it.pricing[f.pricing];
  if (unit === undefined) throw new KvgateError(ErrorCode.InvalidConfig, `--pricing ${f.pricing}: the price book has no "${f.pricing}" price for ${item} (known: ${Object.keys(it.pricing).join(', ')})`, { param: 'pricing' });
  return { hourly: unit * units, detail: `${units} × ${item} at $${unit}/${it.unit} (${f.pricing}, ${it.region}, ${it.date})` };
}

/**
 * Finds, per policy, the fewest replicas of `--profile` whose simulated run meets every percentile
 * target of `--slo`: doubling from 1 until a fleet passes, then bisecting (assumes more replicas
 * never hurt). Prices the answer with the price book (src/cost/): $/hour, $/month, $/1M requests at
 * the throughput the run served.
 */
export async function runPlan(f: PlanFlags, o: { onStatus?: (m: string) => void; onProgress?: (run: string, simulatedMs: number) => void } = {}): Promise<Plan> {
  if (f.fleet) throw new KvgateError(ErrorCode.InvalidConfig, 'plan sizes a fleet of one profile: use --profile and engine flags, not --fleet', { param: 'fleet' });
  const base = simulateOptionsOf({ ...f, replicas: 1 });
  const slo: Slo = base.slo!;
  if (slo.percentiles.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, '--slo needs percentile targets for plan, e.g. ttft_p90=2s,tpot_p90=50ms', { param: 'slo' });
  if (!f.trace && f.rate === undefined && !f.stages) throw new KvgateError(ErrorCode.InvalidConfig, 'plan needs the load to size for: --rate R (with --duration), --stages or --trace', { param: 'rate' });
  const group = fleetOf({ ...f, replicas: 1 })[0];
  // The largest size plan may try, before minutes of simulation: its size limits, and the seed of
  // its last replica (seed + max-replicas − 1; fleetOf above checked a fleet of one).
  checkFleetSize([{ ...group, count: f.maxReplicas }], '--max-replicas');
  refuseSeedSpan(f.seed, f.maxReplicas, '--max-replicas');
  const price = replicaHourly(f, group.profile);
  const { reqs, load } = workloadOf(base);
  const model = loadProfile(group.profile).model;
  const preparer = new RequestPreparer(model);

  const planFor = async (p: Policy): Promise<PolicyPlan> => {
    const tries = new Map<number, PlanTry & { thr: number; outMean: number }>();
    const attempt = async (n: number) => {
      let t = tries.get(n);
      if (t) return t;
      const label = `${p.name} at ${n} replica${n > 1 ? 's' : ''}`;
      const run = await runPolicy({ policy: p.name, config: p.config, fleet: [{ ...group, count: n }], reqs, load, seed: base.seed, path: base.path, preparer, onProgress: o.onProgress && ((ms) => o.onProgress!(label, ms)) });
      const fig = figures(run.records, slo.request);
      const vals = percentileValues(run.records, slo.percentiles);
      t = {
        replicas: n,
        met: fig.ok > 0 && fig.errors === 0 && vals.every((v) => v.met),
        requests: fig.requests,
        failed: fig.errors,
        errors_by_status: fig.errors_by_status,
        error_messages: fig.error_messages,
        values: vals.map((v) => ({ metric: `${v.target.metric}_p${v.target.percentile}`, value_ms: Number.isFinite(v.valueMs) ? v.valueMs : null, max_ms: v.target.maxMs })),
        thr: fig.throughput_rps,
        outMean: fig.ok ? fig.output_tokens / fig.ok : 0,
      };
      tries.set(n, t);
      const verb = t.met ? (n > 1 ? 'meet' : 'meets') : n > 1 ? 'miss' : 'misses';
      const failed = t.failed ? `; ${t.failed} of ${t.requests} requests failed: ${errorsByStatus(t.errors_by_status)}` : '';
      o.onStatus?.(`${p.name}: ${n} replica${n > 1 ? 's' : ''} ${verb} the SLO (${t.values.map((v) => `${v.metric} ${v.value_ms === null ? '—' : Math.round(v.value_ms)} ms`).join(', ')}${failed})`);
      return t;
    };
    let lo = 0; // largest known failing size
    let hi = 0; // smallest known passing size
    for (let n = 1; ; n = Math.min(n * 2, f.maxReplicas)) {
      if ((await attempt(n)).met) {
        hi = n;
        break;
      }
      lo = n;
      if (n >= f.maxReplicas) break;
    }
    if (hi) {
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if ((await attempt(mid)).met) hi = mid;
        else lo = mid;
      }
    }
    const best = hi ? tries.get(hi)! : undefined;
    const shown = best ?? tries.get(lo)!;
    return {
      policy: p.name,
      replicas: hi || null,
      failed: shown.failed,
      errors_by_status: shown.errors_by_status,
      tries: [...tries.values()].sort((a, b) => a.replicas - b.replicas).map(({ thr: _thr, outMean: _outMean, ...t }) => t),
      throughput_rps: best ? best.thr : null,
      output_tokens_mean: best ? best.outMean : null,
      cost: best ? computeCost({ name: p.name, hourly: price.hourly * hi, hoursPerMonth: f.hoursPerMonth, throughputRps: best.thr, outputTokensPerRequest: best.outMean }) : null,
    };
  };

  const policies: PolicyPlan[] = [];
  for (const p of base.policies) policies.push(await planFor(p));
  return {
    kvgate_simulate_plan: 1,
    slo: slo.text,
    profile: group.profile,
    replica_hourly_usd: price.hourly,
    replica_price: price.detail,
    hours_per_month: f.hoursPerMonth,
    load: f.trace ? { trace: f.trace, time_scale: f.timeScale } : { ...base.load },
    policies,
  };
}

export function planJson(p: Plan): string {
  return reportJson(p);
}

/**
 * The policies no fleet size served within the SLO, each with why at the largest size tried (its
 * failed requests by status and message): what `kvgate simulate plan` prints on stderr before it
 * exits 1. Empty when every policy has an answer.
 */
export function planMisses(p: Plan): string[] {
  const lines: string[] = [];
  for (const x of p.policies) {
    if (x.replicas !== null) continue;
    const largest = x.tries[x.tries.length - 1];
    const under = p.policies.length > 1 ? ` under ${x.policy}` : '';
    // "at 3 replicas", not "at 3" (which read as a rate or a stage).
    const size = `${largest.replicas} replica${largest.replicas === 1 ? '' : 's'}`;
    const why = largest.failed
      ? `${largest.failed} of ${largest.requests} requests failed at ${size} (${errorsByStatus(largest.errors_by_status)}), and a plan with failed requests does not meet an SLO:`
      : `${largest.values.filter((v) => v.value_ms === null || v.value_ms > v.max_ms).map((v) => `${v.metric} ${v.value_ms === null ? '—' : +v.value_ms.toPrecision(3)} ms > ${v.max_ms} ms`).join(', ')} at ${size}`;
    lines.push(`no fleet of ${largest.replicas === 1 ? '1 replica' : `1 to ${largest.replicas} replicas`} meets the SLO ${p.slo}${under}: ${why}`);
    if (largest.failed) lines.push(...formatErrorMessages(largest.error_messages, largest.failed));
  }
  return lines;
}

export function formatPlan(p: Plan): string {
  const rows = [
    ['policy', 'replicas', 'failed', ...p.policies[0].tries[0].values.map((v) => `${v.metric} ms (≤ ${v.max_ms})`), '$/hour', '$/month', '$/1M requests', 'req/s served'],
    ...p.policies.map((x) => {
      const best = x.tries.find((t) => t.replicas === x.replicas);
      const shown = best ?? x.tries[x.tries.length - 1];
      return [
        x.policy,
        x.replicas === null ? `> ${Math.max(...x.tries.map((t) => t.replicas))}` : String(x.replicas),
        shown.failed ? `${shown.failed} of ${shown.requests} (${errorsByStatus(shown.errors_by_status)})` : '0',
        ...shown.values.map((v) => (v.value_ms === null ? '—' : v.value_ms.toFixed(0))),
        formatUsd(x.cost?.hourly),
        formatUsd(x.cost?.monthly),
        formatUsd(x.cost?.perMillionRequests),
        x.throughput_rps === null ? '—' : x.throughput_rps.toFixed(2),
      ];
    }),
  ];
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const table = rows.map((r, i) => r.map((v, c) => v.padEnd(w[c])).join('  ').trimEnd() + (i === 0 ? `\n${w.map((n) => '-'.repeat(n)).join('  ')}` : '')).join('\n');
  return `kvgate simulate plan — SLO ${p.slo}; ${p.profile} replicas at ${formatUsd(p.replica_hourly_usd)}/h (${p.replica_price}); ${p.hours_per_month} h a month\n\n${table}`;
}
