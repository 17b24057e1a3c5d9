import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LabeledCounter, LabeledHistogram, observe, type CounterSeries, type HistogramSeries } from './labeled-metrics.js';
import type { Datastore } from '../api.js';
import type { FlowControl } from '../flowcontrol/index.js';
import { registerFlowControlMetrics } from './flow-control-metrics.js';

// The EPP's latency buckets (5 ms … 3600 s).
const LATENCY_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
const TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536, 131072, 262144, 524288, 1048576];
const SCHEDULER_BUCKETS = [0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
const RATIO_BUCKETS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

export interface RequestRecord {
  model: string;
  targetModel: string;
  priority: number;
  endpoint?: string;
  status: number;
  errorCode?: string;
  durationS: number;
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
}

/** The series one kind of request (model, target model, priority) updates, resolved once. */
interface ObjectiveSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
  input: HistogramSeries;
  output: HistogramSeries;
  cached: HistogramSeries;
}

/**
 * The Prometheus metrics of the GIE / llm-d EPP, by their names, for every kvgate ingress
 * (HTTP gateway and ext_proc). Pool gauges are computed from the datastore at scrape time.
 */
export class EppMetrics {
  readonly registry = new Registry();
  private readonly requests: LabeledCounter;
  private readonly errors: LabeledCounter;
  private readonly duration: LabeledHistogram;
  private readonly input: LabeledHistogram;
  private readonly output: LabeledHistogram;
  private readonly cached: LabeledHistogram;
  private readonly scheduler: HistogramSeries;
  private readonly hitRatio: HistogramSeries;
  private readonly picks: LabeledCounter;
  private readonly objectives = new Map<string, ObjectiveSeries>();
  private readonly poolName: string;

  constructor(datastore: Datastore, opts: { poolName: string; processMetrics?: boolean }) {
    const r = this.registry;
    const name = opts.poolName;
    this.poolName = name;
    const objective = ['model_name', 'target_model_name'];
    this.requests = new LabeledCounter('inference_objective_request_total', 'Counter of inference objective requests.', [...objective, 'priority'], r);
    this.errors = new LabeledCounter('inference_objective_request_error_total', 'Counter of inference objective request errors.', [...objective, 'error_code'], r);
    this.duration = new LabeledHistogram('inference_objective_request_duration_seconds', 'Inference objective response latency distribution in seconds.', objective, LATENCY_BUCKETS, r);
    this.input = new LabeledHistogram('inference_objective_input_tokens', 'Inference objective input token count distribution.', objective, TOKEN_BUCKETS, r);
    this.output = new LabeledHistogram('inference_objective_output_tokens', 'Inference objective output token count distribution.', objective, TOKEN_BUCKETS, r);
    this.cached = new LabeledHistogram('inference_objective_prompt_cached_tokens', 'Inference objective prompt cached token count distribution.', objective, TOKEN_BUCKETS, r);
    this.scheduler = new LabeledHistogram('inference_extension_scheduler_e2e_duration_seconds', 'End-to-end scheduling latency distribution in seconds.', [], SCHEDULER_BUCKETS, r).series();
    this.hitRatio = new LabeledHistogram('inference_extension_prefix_indexer_hit_ratio', 'Ratio of prefix blocks found in the index per request.', [], RATIO_BUCKETS, r).series();
    this.picks = new LabeledCounter('kvgate_endpoint_picks_total', 'Requests sent to each endpoint (after failover).', ['endpoint'], r);
    const registers = [r];
    const ready = () => datastore.list().filter((e) => e.healthy);
    new Gauge({ name: 'inference_pool_ready_pods', help: 'The number of ready pods in the inference server pool.', labelNames: ['name'], registers, collect() { this.set({ name }, ready().length); } });
    const avg = (f: (m: NonNullable<ReturnType<Datastore['list']>[number]['metrics']>) => number) => {
      const ms = ready().map((e) => e.metrics).filter((m) => m !== undefined);
      return ms.length ? ms.reduce((a, m) => a + f(m!), 0) / ms.length : 0;
    };
    new Gauge({ name: 'inference_pool_average_kv_cache_utilization', help: 'The average kv cache utilization for an inference server pool.', labelNames: ['name'], registers, collect() { this.set({ name }, avg((m) => m.kvCacheUsage)); } });
    new Gauge({ name: 'inference_pool_average_queue_size', help: 'The average number of requests pending in the model server queue.', labelNames: ['name'], registers, collect() { this.set({ name }, avg((m) => m.waitingQueueSize)); } });
    new Gauge({ name: 'inference_pool_average_running_requests', help: 'The average number of requests running in the model servers.', labelNames: ['name'], registers, collect() { this.set({ name }, avg((m) => m.runningRequests)); } });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Adds flow control's queue and saturation series (see flow-control-metrics.ts). Once per registry. */
  attachFlowControl(flow: FlowControl, datastore: Datastore, now: () => number): void {
    registerFlowControlMetrics(this.registry, flow, datastore, now, this.poolName);
  }

  observeScheduling(seconds: number, prefix?: { matchedBlocks: number; totalBlocks: number }): void {
    observe(this.scheduler, seconds);
    if (prefix && prefix.totalBlocks > 0) observe(this.hitRatio, prefix.matchedBlocks / prefix.totalBlocks);
  }

  observeRequest(r: RequestRecord): void {
    const priority = String(r.priority);
    const key = `${r.model}\u0000${r.targetModel}\u0000${priority}`;
    let o = this.objectives.get(key);
    if (!o) {
      o = {
        requests: this.requests.series(r.model, r.targetModel, priority),
        duration: this.duration.series(r.model, r.targetModel),
        input: this.input.series(r.model, r.targetModel),
        output: this.output.series(r.model, r.targetModel),
        cached: this.cached.series(r.model, r.targetModel),
      };
      // One entry per series, as prom-client keeps one per label set.
      this.objectives.set(key, o);
    }
    o.requests.value++;
    if (r.status >= 400) this.errors.series(r.model, r.targetModel, r.errorCode ?? String(r.status)).value++;
    observe(o.duration, r.durationS);
    if (r.inputTokens !== undefined) observe(o.input, r.inputTokens);
    if (r.outputTokens !== undefined) observe(o.output, r.outputTokens);
    if (r.cachedTokens !== undefined) observe(o.cached, r.cachedTokens);
    if (r.endpoint) this.picks.series(r.endpoint).value++;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
