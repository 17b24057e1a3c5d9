import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { request } from 'undici';
import { buildWorkload, traceWorkload, type BenchRequest, type WorkloadOptions } from './workloads.js';
import { readTrace } from './trace.js';
import { BenchRunner, type Stage, type Sample } from './runner.js';
import { buildReport, formatTable, type BenchReport, type Slo } from './report.js';
import { renderHtml } from './html-report.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { v1SuffixHint } from '../shared/v1-url-hint.js';

export interface BenchOptions {
  url: string;
  model?: string;
  apiKey?: string;
  label?: string;
  workload: WorkloadOptions;
  /** Replay a Mooncake trace instead of the workload: sent at timestamp × timeScale, reported per window. */
  trace?: TraceReplayOptions;
  concurrency: number;
  stages: Stage[];
  numRequests?: number;
  timeoutMs: number;
  slo?: Slo;
  out?: string;
  html?: string;
  progress?: (done: number, total: number | undefined, s: Sample) => void;
  signal?: AbortSignal;
}

export interface TraceReplayOptions {
  path: string;
  /** Multiplies the trace's timestamps (0.5 = twice as fast). */
  timeScale: number;
  /** Report window (one "stage" per window), seconds of replay time. */
  windowS: number;
  /** Replay only the first N requests. */
  numRequests?: number;
}

/** A trace replay's requests and its windows' offered rates (requests per second of replay time). */
export function traceRequests(t: TraceReplayOptions): { reqs: BenchRequest[]; offered: number[] } {
  let records = readTrace(t.path);
  if (t.numRequests !== undefined) records = records.slice(0, t.numRequests);
  const reqs = traceWorkload(records, t.timeScale);
  const windowMs = t.windowS * 1000;
  const offered: number[] = [];
  for (const r of reqs) {
    const w = Math.floor(r.arrivalMs! / windowMs);
    while (offered.length <= w) offered.push(0);
    offered[w]++;
  }
  return { reqs, offered: offered.map((n) => n / t.windowS) };
}

/** Finds the model (first of /v1/models) and fails early with a clear message when the URL is not an OpenAI server. */
async function resolveModel(url: string, apiKey: string | undefined, model: string | undefined, timeoutMs: number): Promise<string> {
  let status: number;
  let text: string;
  try {
    const r = await request(`${url}/v1/models`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    status = r.statusCode;
    text = await r.body.text();
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new KvgateError(ErrorCode.UpstreamFailed, code === 'ECONNREFUSED' ? `connection refused at ${url}` : `${url}: ${(err as Error).message}`);
  }
  let ids: string[] = [];
  try {
    ids = ((JSON.parse(text) as { data?: { id?: string }[] }).data ?? []).map((d) => d.id!).filter(Boolean);
  } catch {
    /* not JSON */
  }
  if (status !== 200 || ids.length === 0) throw new KvgateError(ErrorCode.UpstreamFailed, `not an OpenAI server: ${url}/v1/models returned ${status}${v1SuffixHint(url, status, 'bench')}`);
  if (model && !ids.includes(model)) throw new KvgateError(ErrorCode.ModelNotFound, `model "${model}" is not served at ${url} (served: ${ids.join(', ')})`);
  return model ?? ids[0];
}

/**
 * A run's name in reports when --label is not given: what ran. A trace replay or a dataset is
 * named by its file (the --workload default, shared-prefix, did not run then).
 */
export function defaultLabel(o: Pick<BenchOptions, 'trace' | 'workload'>): string {
  if (o.trace) return `trace ${basename(o.trace.path)}`;
  if (o.workload.workload === 'dataset' && o.workload.dataset) return `dataset ${basename(o.workload.dataset)}`;
  return o.workload.workload;
}

/** Runs a benchmark and writes its reports; an aborted run still writes a partial report. */
export async function runBench(o: BenchOptions): Promise<BenchReport> {
  const replay = o.trace ? traceRequests(o.trace) : undefined;
  const reqs = replay ? replay.reqs : buildWorkload(o.workload);
  const model = await resolveModel(o.url, o.apiKey, o.model, o.timeoutMs);
  let done = 0;
  const total = replay ? reqs.length : o.stages.every((s) => s.rate === undefined) ? (o.numRequests ?? reqs.length) * o.stages.length : undefined;
  const runner = new BenchRunner({
    url: o.url,
    model,
    apiKey: o.apiKey,
    concurrency: o.concurrency,
    stages: o.stages,
    numRequests: o.numRequests,
    timeoutMs: o.timeoutMs,
    seed: o.workload.seed,
    replay: o.trace ? { windowMs: o.trace.windowS * 1000 } : undefined,
    signal: o.signal,
    onSample: (s) => o.progress?.(++done, total, s),
  });
  const t0 = performance.now();
  const samples = await runner.run(reqs);
  const report = buildReport(samples, {
    label: o.label ?? defaultLabel(o),
    config: { url: o.url, model, workload: o.trace ? { trace: o.trace } : o.workload, concurrency: o.concurrency, stages: o.stages, num_requests: o.numRequests ?? null, slo: o.slo ?? null },
    durationS: (performance.now() - t0) / 1000,
    slo: o.slo,
    partial: Boolean(o.signal?.aborted),
    offered: replay ? replay.offered : o.stages.map((s) => s.rate ?? null),
  });
  if (o.out) writeFileSync(o.out, JSON.stringify(report, null, 1));
  if (o.html) writeFileSync(o.html, renderHtml([report], `kvgate bench — ${report.label}`));
  return report;
}

export { formatTable };
