import { basename, extname } from 'node:path';
import { loadConfig, listPresets, type EffectiveConfig } from '../router/index.js';
import { loadProfile } from '../engine/index.js';
import type { WorkloadOptions } from '../bench/workloads.js';
import type { TraceReplayOptions } from '../bench/run-bench.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { describeFleet, type ReplicaGroup } from './fleet.js';
import type { LoadSpec, PathModel, PolicyRun } from './run-policy.js';
import { runJobsHere, runJobsInWorkers, workloadOf, type PolicyJob } from './policy-job.js';
import { policyReport, type SimulateReport } from './report.js';
import type { Slo } from './slo.js';

export interface Policy {
  name: string;
  config: EffectiveConfig;
}

export interface SimulateOptions {
  fleet: ReplicaGroup[];
  policies: Policy[];
  /** The request mix (ignored when `trace` is given). */
  workload: WorkloadOptions;
  trace?: TraceReplayOptions;
  /** Arrivals for a workload: Poisson stages or a closed loop (a trace brings its own). */
  load: Exclude<LoadSpec, { kind: 'trace' }>;
  seed: number;
  path: PathModel;
  slo?: Slo;
}

/**
 * The data-path defaults. `kvEventLatencyMs` 1: a batch leaves vLLM's publisher thread when the
 * step ends, crosses one network hop (0.2 ms, as `networkLatencyMs`) and is decoded and applied by
 * the router (kvgate's decoder: ~1.3 µs an event, so a 6,000-token prefill's 375 blocks ≈ 0.5 ms).
 */
export const DEFAULT_PATH: PathModel = { networkLatencyMs: 0.2, gatewayOverheadMs: 0.15, tokenizeTokensPerMs: 2000, metricsIntervalMs: 50, scrapeLatencyMs: 1, kvEvents: true, kvEventLatencyMs: 1, flowControl: true };

/** A `--compare` / `--preset` / `--config-file` entry that names an EndpointPickerConfig YAML (a slash or a .yaml/.yml ending), not a preset. */
export function isPolicyFile(entry: string): boolean {
  return entry.includes('/') || /\.ya?ml$/.test(entry);
}

/**
 * Resolves `--compare` / `--preset` / `--config-file` entries: a preset name, or a path to an
 * EndpointPickerConfig YAML (isPolicyFile) named by its file name. A file that cannot be read or
 * is not a valid config is a KvgateError naming `flag` (the one the entries came from) and the file.
 */
export function resolvePolicies(entries: string[], flag = '--compare'): Policy[] {
  const seen = new Set<string>();
  return entries.map((e) => {
    const isFile = isPolicyFile(e);
    if (!isFile && !listPresets().includes(e)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `unknown policy "${e}": not a preset (${listPresets().join(', ')}) or a .yaml file`, { param: 'compare' });
    }
    let config: EffectiveConfig;
    try {
      config = loadConfig(isFile ? { file: e } : { preset: e });
    } catch (err) {
      // loadConfig's message names the file ("x.yaml: cannot read: ENOENT"), not the flag it came from.
      if (!(err instanceof KvgateError) || !isFile) throw err;
      throw new KvgateError(err.code, `${flag}: ${err.message}`, { param: flag.slice(2), cause: err });
    }
    let name = isFile ? basename(e, extname(e)) : e;
    while (seen.has(name)) name += "'";
    seen.add(name);
    return { name, config };
  });
}

/** The config block of a report: everything that determines the result, nothing that varies between runs. */
export function reportConfig(o: SimulateOptions): Record<string, unknown> {
  return {
    fleet: describeFleet(o.fleet),
    replicas: o.fleet.reduce((a, g) => a + g.count, 0),
    workload: o.trace ? { trace: basename(o.trace.path), time_scale: o.trace.timeScale, window_s: o.trace.windowS, num_requests: o.trace.numRequests ?? null } : o.workload,
    load: o.trace ? { kind: 'trace' } : o.load,
    seed: o.seed,
    path: o.path,
    slo: o.slo?.text ?? null,
    policies: o.policies.map((p) => ({ name: p.name, source: p.config.source })),
  };
}

/** A run in which the load sent nothing: an empty report would look like a result. */
function noRequests(o: SimulateOptions): KvgateError {
  const l = o.load;
  if (o.trace) return new KvgateError(ErrorCode.InvalidConfig, `the trace ${basename(o.trace.path)} has no request to replay`, { param: 'trace' });
  const what = l.kind === 'stages' ? l.stages.map((s) => `${s.rate} req/s for ${s.durationS} s`).join(', ') : `a closed loop of ${l.concurrency}`;
  return new KvgateError(ErrorCode.InvalidConfig, `the load sent no request (${what}): raise --duration or --rate, or the --stages`, { param: 'duration' });
}

/**
 * Runs every policy over the same fleet, workload and seed and reports them side by side, on up to
 * `parallel` worker threads (1: in this thread, one after another). The report does not depend on
 * `parallel`. `onPolicy` is told as each policy finishes, `opts.onProgress` now and then while one
 * runs (the virtual time it reached; for progress output, it changes nothing).
 */
export async function simulate(o: SimulateOptions, onPolicy?: (run: PolicyRun) => void, opts: { parallel?: number; onProgress?: (policy: string, simulatedMs: number) => void } = {}): Promise<SimulateReport> {
  if (o.policies.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, 'no policy to simulate', { param: 'compare' });
  for (const g of o.fleet) loadProfile(g.profile); // unknown profiles fail here, not in a worker
  const jobs: PolicyJob[] = o.policies.map((p) => ({ policy: p.name, config: p.config, fleet: o.fleet, workload: o.workload, trace: o.trace, load: o.load, seed: o.seed, path: o.path }));
  const parallel = Math.min(opts.parallel ?? 1, jobs.length);
  const progress = opts.onProgress && ((i: number, ms: number) => opts.onProgress!(jobs[i].policy, ms));
  let runs: PolicyRun[];
  if (parallel > 1) {
    workloadOf(o); // bad workloads and traces fail here, with their own message
    runs = await runJobsInWorkers(jobs, parallel, (run) => onPolicy?.(run), progress);
  } else runs = await runJobsHere(jobs, (run) => onPolicy?.(run), progress);
  if (runs.every((r) => r.records.length === 0)) throw noRequests(o);
  return { kvgate_simulate: 1, config: reportConfig(o), policies: runs.map((run) => policyReport(run, o.slo?.request)) };
}

export { workloadOf };
