import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Datastore } from '../api.js';

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

/**
 * The Prometheus metrics of the GIE / llm-d EPP, by their names, for every kvgate ingress
 * (HTTP gateway and ext_proc). Pool gauges are computed from the datastore at scrape time.
 */
export class EppMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter;
  private readonly errors: Counter;
  private readonly duration: Histogram;
  private readonly input: Histogram;
  private readonly output: Histogram;
  private readonly cached: Histogram;
  private readonly scheduler: Histogram;
  private readonly hitRatio: Histogram;
  private readonly picks: Counter;

  constructor(datastore: Datastore, opts: { poolName: string; processMetrics?: boolean }) {
    const r = this.registers();
    const name = opts.poolName;
    const objective = ['model_name', 'target_model_name'];
    this.requests = new Counter({ name: 'inference_objective_request_total', help: 'Counter of inference objective requests.', labelNames: [...objective, 'priority'], registers: r });
    this.errors = new Counter({ name: 'inference_objective_request_error_total', help: 'Counter of inference objective request errors.', labelNames: [...objective, 'error_code'], registers: r });
    this.duration = new Histogram({ name: 'inference_objective_request_duration_seconds', help: 'Inference objective response latency distribution in seconds.', labelNames: objective, buckets: LATENCY_BUCKETS, registers: r });
    this.input = new Histogram({ name: 'inference_objective_input_tokens', help: 'Inference objective input token count distribution.', labelNames: objective, buckets: TOKEN_BUCKETS, registers: r });
    this.output = new Histogram({ name: 'inference_objective_output_tokens', help: 'Inference objective output token count distribution.', labelNames: objective, buckets: TOKEN_BUCKETS, registers: r });
    this.cached = new Histogram({ name: 'inference_objective_prompt_cached_tokens', help: 'Inference objective prompt cached token count distribution.', labelNames: objective, buckets: TOKEN_BUCKETS, registers: r });
    this.scheduler = new Histogram({ name: 'inference_extension_scheduler_e2e_duration_seconds', help: 'End-to-end scheduling latency distribution in seconds.', buckets: SCHEDULER_BUCKETS, registers: r });
    this.hitRatio = new Histogram({ name: 'inference_extension_prefix_indexer_hit_ratio', help: 'Ratio of prefix blocks found in the index per request.', buckets: RATIO_BUCKETS, registers: r });
    this.picks = new Counter({ name: 'kvgate_endpoint_picks_total', help: 'Requests sent to each endpoint (after failover).', labelNames: ['endpoint'], registers: r });
    const ready = () => datastore.list().filter((e) => e.healthy);
    new Gauge({ name: 'inference_pool_ready_pods', help: 'The number of ready pods in the inference server pool.', labelNames: ['name'], registers: r, collect() { this.set({ name }, ready().length); } });
    const avg = (f: (m: NonNullable<ReturnType<Datastore['list']>[number]['metrics']>) => number) => {
      const ms = ready().map((e) => e.metrics).filter((m) => m !== undefined);
      return ms.length ? ms.reduce((a, m) => a + f(m!), 0) / ms.length : 0;
    };
    new Gauge({ name: 'inference_pool_average_kv_cache_utilization', help: 'The average kv cache utilization for an inference server pool.', labelNames: ['name'], registers: r, collect() { this.set({ name }, avg((m) => m.kvCacheUsage)); } });
    new Gauge({ name: 'inference_pool_average_queue_size', help: 'The average number of requests pending in the model server queue.', labelNames: ['name'], registers: r, collect() { this.set({ name }, avg((m) => m.waitingQueueSize)); } });
    new Gauge({ name: 'inference_pool_average_running_requests', help: 'The average number of requests running in the model servers.', labelNames: ['name'], registers: r, collect() { this.set({ name }, avg((m) => m.runningRequests)); } });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  private registers(): Registry[] {
    return [this.registry];
  }

  observeScheduling(seconds: number, prefix?: { matchedBlocks: number; totalBlocks: number }): void {
    this.scheduler.observe(seconds);
    if (prefix && prefix.totalBlocks > 0) this.hitRatio.observe(prefix.matchedBlocks / prefix.totalBlocks);
  }

  observeRequest(r: RequestRecord): void {
    const l = { model_name: r.model, target_model_name: r.targetModel };
    this.requests.inc({ ...l, priority: String(r.priority) });
    if (r.status >= 400) this.errors.inc({ ...l, error_code: r.errorCode ?? String(r.status) });
    this.duration.observe(l, r.durationS);
    if (r.inputTokens !== undefined) this.input.observe(l, r.inputTokens);
    if (r.outputTokens !== undefined) this.output.observe(l, r.outputTokens);
    if (r.cachedTokens !== undefined) this.cached.observe(l, r.cachedTokens);
    if (r.endpoint) this.picks.inc({ endpoint: r.endpoint });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
