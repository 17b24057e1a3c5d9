import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SimEngine } from '../engine/index.js';
import type { RequestOutcome } from '../engine/types.js';

// vLLM v1 bucket boundaries (PrometheusStatLogger).
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
export const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
export const REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** vLLM's 1-2-5 token buckets up to max_model_len. */
export function tokenBuckets(maxModelLen: number): number[] {
  const out: number[] = [];
  for (let m = 1; ; m *= 10) {
    for (const f of [1, 2, 5]) {
      if (f * m > maxModelLen) return out;
      out.push(f * m);
    }
  }
}

const LABELS = ['model_name', 'engine'] as const;

/**
 * The simulator's /metrics, named and bucketed as vLLM v1 exports them. Gauges and counters are
 * read from the engine at scrape time (a router scrapes every 50 ms, so scrapes stay cheap);
 * per-request histograms are observed when a request finishes.
 */
export class SimMetrics {
  readonly registry = new Registry();
  private readonly labels: { model_name: string; engine: string };
  private readonly ttft: Histogram;
  private readonly itl: Histogram;
  private readonly tpot: Histogram;
  private readonly legacyTpot?: Histogram;
  private readonly e2e: Histogram;
  private readonly queue: Histogram;
  private readonly inference: Histogram;
  private readonly prefill: Histogram;
  private readonly decode: Histogram;
  private readonly promptTokens: Histogram;
  private readonly generationTokens: Histogram;
  private readonly maxTokensParam: Histogram;
  private readonly success: Counter;

  constructor(engine: SimEngine, modelName: string, opts: { legacy: boolean; maxModelLen: number }) {
    const r = this.registry;
    const labels = (this.labels = { model_name: modelName, engine: '0' });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({ name, help, labelNames: LABELS, registers: [r], collect() { this.set(labels, read()); } });
    const counter = (name: string, help: string, read: () => number) => {
      let last = 0;
      const c = new Counter({
        name,
        help,
        labelNames: LABELS,
        registers: [r],
        collect() {
          const v = read();
          if (v > last) this.inc(labels, v - last);
          last = v;
        },
      });
      c.inc(labels, 0);
      return c;
    };
    const hist = (name: string, help: string, buckets: number[]) =>
      new Histogram({ name, help, labelNames: LABELS, buckets, registers: [r] });

    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', () => engine.stats().running);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', () => engine.stats().waiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', () => engine.stats().kvCacheUsage);
    counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', () => engine.stats().prefixCacheQueries);
    counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', () => engine.stats().prefixCacheHits);
    counter('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.', () => engine.stats().preemptions);
    counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', () => engine.stats().promptTokens);
    counter('vllm:generation_tokens_total', 'Number of generation tokens processed.', () => engine.stats().generationTokens);
    if (opts.legacy) {
      gauge('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage (deprecated name).', () => engine.stats().kvCacheUsage);
      counter('vllm:gpu_prefix_cache_queries_total', 'GPU prefix cache queries (deprecated name).', () => engine.stats().prefixCacheQueries);
      counter('vllm:gpu_prefix_cache_hits_total', 'GPU prefix cache hits (deprecated name).', () => engine.stats().prefixCacheHits);
    }
    this.success = new Counter({
      name: 'vllm:request_success_total',
      help: 'Count of successfully processed requests.',
      labelNames: [...LABELS, 'finished_reason'],
      registers: [r],
    });
    const info = new Gauge({
      name: 'vllm:cache_config_info',
      help: 'Information of the LLMEngine CacheConfig',
      labelNames: ['block_size', 'num_gpu_blocks', 'num_cpu_blocks', 'cache_dtype', 'enable_prefix_caching', 'gpu_memory_utilization', 'prefix_caching_hash_algo', 'engine'],
      registers: [r],
    });
    info.set(
      {
        block_size: String(engine.blockSize),
        num_gpu_blocks: String(engine.numGpuBlocks),
        num_cpu_blocks: '0',
        cache_dtype: 'auto',
        enable_prefix_caching: engine.enablePrefixCaching ? 'True' : 'False',
        gpu_memory_utilization: '0.9',
        prefix_caching_hash_algo: 'xxhash',
        engine: '0',
      },
      1,
    );
    // vLLM exports CacheConfig only (above); the scheduler's limits are exported the same way
    // (`vllm:<config>_info`) so a gateway can size its per-endpoint concurrency from max_num_seqs.
    new Gauge({
      name: 'vllm:scheduler_config_info',
      help: 'Information of the LLMEngine SchedulerConfig (kvgate sim; vLLM itself does not export it)',
      labelNames: ['max_num_seqs', 'max_num_batched_tokens', 'max_model_len', 'engine'],
      registers: [r],
    }).set({ max_num_seqs: String(engine.maxNumSeqs), max_num_batched_tokens: String(engine.maxNumBatchedTokens), max_model_len: String(opts.maxModelLen), engine: '0' }, 1);
    const lora = new Gauge({
      name: 'vllm:lora_requests_info',
      help: 'Running stats on lora requests.',
      labelNames: ['max_lora', 'running_lora_adapters', 'waiting_lora_adapters'],
      registers: [r],
    });
    lora.set({ max_lora: '0', running_lora_adapters: '', waiting_lora_adapters: '' }, Date.now() / 1000);

    this.ttft = hist('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', TTFT_BUCKETS);
    this.itl = hist('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', ITL_BUCKETS);
    this.tpot = hist('vllm:request_time_per_output_token_seconds', 'Histogram of time_per_output_token_seconds per request.', ITL_BUCKETS);
    if (opts.legacy) this.legacyTpot = hist('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds (deprecated).', ITL_BUCKETS);
    this.e2e = hist('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', REQUEST_LATENCY_BUCKETS);
    this.queue = hist('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', REQUEST_LATENCY_BUCKETS);
    this.inference = hist('vllm:request_inference_time_seconds', 'Histogram of time spent in RUNNING phase for request.', REQUEST_LATENCY_BUCKETS);
    this.prefill = hist('vllm:request_prefill_time_seconds', 'Histogram of time spent in PREFILL phase for request.', REQUEST_LATENCY_BUCKETS);
    this.decode = hist('vllm:request_decode_time_seconds', 'Histogram of time spent in DECODE phase for request.', REQUEST_LATENCY_BUCKETS);
    const tb = tokenBuckets(opts.maxModelLen);
    this.promptTokens = hist('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', tb);
    this.generationTokens = hist('vllm:request_generation_tokens', 'Number of generation tokens processed.', tb);
    this.maxTokensParam = hist('vllm:request_params_max_tokens', 'Histogram of the max_tokens request parameter.', tb);
  }

  /** One generated token `gapMs` after the previous one. */
  observeInterToken(gapMs: number): void {
    this.itl.observe(this.labels, gapMs / 1000);
  }

  observeFinished(o: RequestOutcome, maxTokens: number): void {
    const l = this.labels;
    const t = o.timings;
    this.success.inc({ ...l, finished_reason: o.finishReason }, 1);
    if (t.finishedMs === undefined) return;
    this.e2e.observe(l, (t.finishedMs - t.arrivalMs) / 1000);
    this.promptTokens.observe(l, o.promptTokens);
    this.generationTokens.observe(l, o.completionTokens);
    this.maxTokensParam.observe(l, maxTokens);
    if (t.scheduledMs !== undefined) {
      this.queue.observe(l, (t.scheduledMs - t.arrivalMs) / 1000);
      this.inference.observe(l, (t.finishedMs - t.scheduledMs) / 1000);
    }
    if (t.firstTokenMs !== undefined) {
      this.ttft.observe(l, (t.firstTokenMs - t.arrivalMs) / 1000);
      if (t.scheduledMs !== undefined) this.prefill.observe(l, (t.firstTokenMs - t.scheduledMs) / 1000);
      this.decode.observe(l, (t.finishedMs - t.firstTokenMs) / 1000);
      if (o.completionTokens > 1) {
        const tpot = (t.finishedMs - t.firstTokenMs) / 1000 / (o.completionTokens - 1);
        this.tpot.observe(l, tpot);
        this.legacyTpot?.observe(l, tpot);
      }
    }
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
