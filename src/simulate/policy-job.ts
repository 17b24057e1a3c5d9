import { Worker } from 'node:worker_threads';
import { loadProfile } from '../engine/index.js';
import type { EffectiveConfig } from '../router/index.js';
import { buildWorkload, type BenchRequest, type WorkloadOptions } from '../bench/workloads.js';
import { traceRequests, type TraceReplayOptions } from '../bench/run-bench.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import type { ReplicaGroup } from './fleet.js';
import { runPolicy, type LoadSpec, type PathModel, type PolicyRun } from './run-policy.js';
import { RequestPreparer } from './requests.js';

/** Everything one policy's run depends on, as plain data (it crosses into a worker thread). */
export interface PolicyJob {
  policy: string;
  config: EffectiveConfig;
  fleet: ReplicaGroup[];
  workload: WorkloadOptions;
  trace?: TraceReplayOptions;
  load: Exclude<LoadSpec, { kind: 'trace' }>;
  seed: number;
  path: PathModel;
}

/** The workload's requests and arrivals (trace replays bring their own timestamps and windows). */
export function workloadOf(o: Pick<PolicyJob, 'workload' | 'trace' | 'load'>): { reqs: BenchRequest[]; load: LoadSpec } {
  if (o.trace) {
    const { reqs } = traceRequests(o.trace);
    return { reqs, load: { kind: 'trace', windowMs: o.trace.windowS * 1000 } };
  }
  return { reqs: buildWorkload(o.workload), load: o.load };
}

/** Told, during job `index`'s run, the virtual time it has reached (ms). */
export type OnJobProgress = (index: number, simulatedMs: number) => void;

/** Runs jobs in this thread, sharing the workload (and its tokenization) between them. */
export async function runJobsHere(jobs: PolicyJob[], onRun?: (run: PolicyRun, index: number) => void, onProgress?: OnJobProgress): Promise<PolicyRun[]> {
  if (jobs.length === 0) return [];
  const { reqs, load } = workloadOf(jobs[0]);
  const preparer = new RequestPreparer(loadProfile(jobs[0].fleet[0].profile).model);
  const runs: PolicyRun[] = [];
  for (const [i, j] of jobs.entries()) {
    const run = await runPolicy({ policy: j.policy, config: j.config, fleet: j.fleet, reqs, load, seed: j.seed, path: j.path, preparer, onProgress: onProgress && ((ms) => onProgress(i, ms)) });
    onRun?.(run, i);
    runs.push(run);
  }
  return runs;
}

export async function runPolicyJob(job: PolicyJob, onProgress?: (simulatedMs: number) => void): Promise<PolicyRun> {
  return (await runJobsHere([job], undefined, onProgress && ((_i, ms) => onProgress(ms))))[0];
}

/** What a policy worker posts: progress while it runs (at most every WORKER_PROGRESS_MS of wall time), then its run. */
export type WorkerMessage = { kind: 'progress'; simulatedMs: number } | { kind: 'done'; run: PolicyRun };

/** Wall ms between a worker's progress messages (the parent throttles its lines further). */
export const WORKER_PROGRESS_MS = 250;

/**
 * Runs jobs on up to `parallel` worker threads (each builds the workload itself; results are the
 * same as in one thread, since every run is seeded and independent). Results in job order.
 */
export async function runJobsInWorkers(jobs: PolicyJob[], parallel: number, onRun?: (run: PolicyRun, index: number) => void, onProgress?: OnJobProgress): Promise<PolicyRun[]> {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./policy-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  const runs: PolicyRun[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      runs[i] = await new Promise<PolicyRun>((resolve, reject) => {
        const w = fromSource ? sourceWorker(entry, jobs[i]) : new Worker(entry, { workerData: jobs[i] });
        w.on('message', (m: WorkerMessage) => (m.kind === 'done' ? resolve(m.run) : onProgress?.(i, m.simulatedMs)));
        w.once('error', (err) => reject(new KvgateError(ErrorCode.Internal, `simulating ${jobs[i].policy}: ${err.message}`)));
        w.once('exit', (code) => code !== 0 && reject(new KvgateError(ErrorCode.Internal, `simulating ${jobs[i].policy}: worker exited ${code}`)));
      });
      onRun?.(runs[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, lane));
  return runs;
}

/** Sources run through tsx: a worker registers tsx's loader before it imports the TypeScript entry. */
function sourceWorker(entry: URL, job: PolicyJob): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(code, { eval: true, workerData: job });
}
