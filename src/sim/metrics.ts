import { Counter, Gauge, Registry } from 'prom-client';
import { FixedCounterFamily, FixedHistogram } from './fixed-label-metrics.js';
import type { SimEngine } from '../engine/index.js';
import type { RequestOutcome } from '../engine/types.js';

// vLLM v1 bucket boundaries (vllm/v1/metrics/loggers.py, PrometheusStatLogger).
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
export const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
export const REQUEST_LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];
export const ITERATION_TOKENS_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];
export const PARAMS_N_BUCKETS = [1, 2, 5, 10, 20];
/** vLLM's FinishReason values, each pre-created on vllm:request_success (plus llm-d-inference-sim's cache_threshold). */
export const FINISH_REASONS = ['stop', 'length', 'abort', 'error', 'repetition'] as const;
/** vLLM's PromptTokenStats.ALL_SOURCES (vllm:prompt_tokens_by_source). */
export const PROMPT_TOKEN_SOURCES = ['local_compute', 'local_cache_hit', 'external_kv_transfer'] as const;

/** vLLM's 1-2-5 token buckets up to max_model_len (build_1_2_5_buckets). */
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
/** Distinct (running, waiting) adapter sets kept on vllm:lora_requests_info; vLLM keeps every one it saw. */
const LORA_INFO_SERIES = 32;

export interface SimMetricsOptions {
  legacy: boolean;
  maxModelLen: number;
  /** vLLM's engine label (the data-parallel rank). */
  engineIndex?: number;
  /** `max_lora` label of vllm:lora_requests_info. */
  maxLoras: number;
}

/**
 * The simulator's /metrics, named, typed, labelled and bucketed as vLLM v1 exports them. Gauges
 * and counters are read from the engine at scrape time (a router scrapes every 50 ms, so scrapes
 * stay cheap); per-request histograms are observed when a request finishes.
 */
export class SimMetrics {
  readonly registry = new Registry();
  private readonly labels: { model_name: string; engine: string };
  private readonly ttft: FixedHistogram;
  private readonly itl: FixedHistogram;
  private readonly tpot: FixedHistogram;
  private readonly deprecatedTpot: FixedHistogram;
  private readonly e2e: FixedHistogram;
  private readonly queue: FixedHistogram;
  private readonly inference: FixedHistogram;
  private readonly prefill: FixedHistogram;
  private readonly decode: FixedHistogram;
  private readonly promptTokens: FixedHistogram;
  private readonly generationTokens: FixedHistogram;
  private readonly maxTokensParam: FixedHistogram;
  private readonly maxGenerationTokens: FixedHistogram;
  private readonly paramsN: FixedHistogram;
  private readonly iterationTokens: FixedHistogram;
  private readonly prefillKvComputed: FixedHistogram;
  private readonly success: FixedCounterFamily;
  private readonly loraSeries = new Map<string, Record<string, string>>();

  constructor(engine: SimEngine, modelName: string, opts: SimMetricsOptions) {
    const r = this.registry;
    const labels = (this.labels = { model_name: modelName, engine: String(opts.engineIndex ?? 0) });
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
    const hist = (name: string, help: string, buckets: number[]) => new FixedHistogram(name, help, labels, buckets, r);
    const stats = () => engine.stats();

    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', () => stats().running);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', () => stats().waiting);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', () => stats().kvCacheUsage);
    new Gauge({
      name: 'vllm:engine_sleep_state',
      help: 'Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.',
      labelNames: [...LABELS, 'sleep_state'],
      registers: [r],
      collect() {
        const level = engine.stats().sleepLevel;
        this.set({ ...labels, sleep_state: 'awake' }, level === 0 ? 1 : 0);
        this.set({ ...labels, sleep_state: 'weights_offloaded' }, level === 1 ? 1 : 0);
        this.set({ ...labels, sleep_state: 'discard_all' }, level === 2 ? 1 : 0);
      },
    });
    counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', () => stats().prefixCacheQueries);
    counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', () => stats().prefixCacheHits);
    counter('vllm:external_prefix_cache_queries_total', 'External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of queried tokens.', () => stats().externalPrefixCacheQueries);
    counter('vllm:external_prefix_cache_hits_total', 'External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of cached tokens.', () => stats().externalPrefixCacheHits);
    // Multimodal cache (items): registered by vLLM whatever the model; a text-only simulator never hits it.
    counter('vllm:mm_cache_queries_total', 'Multi-modal cache queries, in terms of number of queried items.', () => 0);
    counter('vllm:mm_cache_hits_total', 'Multi-modal cache hits, in terms of number of cached items.', () => 0);
    counter('vllm:num_preemptions_total', 'Cumulative number of preemption from the engine.', () => stats().preemptions);
    counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', () => stats().promptTokens);
    const bySource = (st: ReturnType<typeof stats>, source: (typeof PROMPT_TOKEN_SOURCES)[number]) =>
      source === 'local_compute' ? st.promptTokensLocalCompute : source === 'local_cache_hit' ? st.promptTokensLocalCacheHit : st.promptTokensExternal;
    const sourceLast = new Map<string, number>();
    const sources = new Counter({
      name: 'vllm:prompt_tokens_by_source_total',
      help: 'Number of prompt tokens by source.',
      labelNames: [...LABELS, 'source'],
      registers: [r],
      collect() {
        const st = stats();
        for (const source of PROMPT_TOKEN_SOURCES) {
          const v = bySource(st, source);
          const last = sourceLast.get(source) ?? 0;
          if (v > last) this.inc({ ...labels, source }, v - last);
          sourceLast.set(source, v);
        }
      },
    });
    for (const source of PROMPT_TOKEN_SOURCES) sources.inc({ ...labels, source }, 0);
    counter('vllm:prompt_tokens_cached_total', 'Number of cached prompt tokens (local + external).', () => stats().promptTokensCached);
    counter('vllm:prompt_tokens_recomputed_total', 'Number of cached tokens recomputed for forward pass.', () => stats().promptTokensRecomputed);
    counter('vllm:generation_tokens_total', 'Number of generation tokens processed.', () => stats().generationTokens);
    if (opts.legacy) {
      gauge('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage (deprecated name).', () => stats().kvCacheUsage);
      counter('vllm:gpu_prefix_cache_queries_total', 'GPU prefix cache queries (deprecated name).', () => stats().prefixCacheQueries);
      counter('vllm:gpu_prefix_cache_hits_total', 'GPU prefix cache hits (deprecated name).', () => stats().prefixCacheHits);
    }
    this.success = new FixedCounterFamily('vllm:request_success_total', 'Count of successfully processed requests.', labels, 'finished_reason', FINISH_REASONS, r);
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
        engine: labels.engine,
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
    }).set({ max_num_seqs: String(engine.maxNumSeqs), max_num_batched_tokens: String(engine.maxNumBatchedTokens), max_model_len: String(opts.maxModelLen), engine: labels.engine }, 1);
    // vLLM sets the current (max_lora, waiting, running) label set to the current time on every
    // record; routers (GIE) read the series with the newest value.
    const series = this.loraSeries;
    const maxLora = String(opts.maxLoras);
    new Gauge({
      name: 'vllm:lora_requests_info',
      help: 'Running stats on lora requests.',
      labelNames: ['max_lora', 'running_lora_adapters', 'waiting_lora_adapters'],
      registers: [r],
      collect() {
        const { running, waiting } = engine.loraStats();
        const l = { max_lora: maxLora, running_lora_adapters: [...running.keys()].sort().join(','), waiting_lora_adapters: [...waiting.keys()].sort().join(',') };
        const key = `${l.running_lora_adapters}|${l.waiting_lora_adapters}`;
        series.delete(key);
        series.set(key, l);
        if (series.size > LORA_INFO_SERIES) {
          const oldest = series.keys().next().value!;
          this.remove(series.get(oldest)!);
          series.delete(oldest);
        }
        this.set(l, Date.now() / 1000);
      },
    });

    this.ttft = hist('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', TTFT_BUCKETS);
    this.itl = hist('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', ITL_BUCKETS);
    // vLLM ≤ 0.10's name for the same per-token observations (hidden since 0.12); dashboards still query it.
    this.deprecatedTpot = hist('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.', ITL_BUCKETS);
    this.tpot = hist('vllm:request_time_per_output_token_seconds', 'Histogram of time_per_output_token_seconds per request.', ITL_BUCKETS);
    this.e2e = hist('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', REQUEST_LATENCY_BUCKETS);
    this.queue = hist('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', REQUEST_LATENCY_BUCKETS);
    this.inference = hist('vllm:request_inference_time_seconds', 'Histogram of time spent in RUNNING phase for request.', REQUEST_LATENCY_BUCKETS);
    this.prefill = hist('vllm:request_prefill_time_seconds', 'Histogram of time spent in PREFILL phase for request.', REQUEST_LATENCY_BUCKETS);
    this.decode = hist('vllm:request_decode_time_seconds', 'Histogram of time spent in DECODE phase for request.', REQUEST_LATENCY_BUCKETS);
    const tb = tokenBuckets(opts.maxModelLen);
    this.promptTokens = hist('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', tb);
    this.generationTokens = hist('vllm:request_generation_tokens', 'Number of generation tokens processed.', tb);
    this.iterationTokens = hist('vllm:iteration_tokens_total', 'Histogram of number of tokens per engine_step.', ITERATION_TOKENS_BUCKETS);
    this.maxGenerationTokens = hist('vllm:request_max_num_generation_tokens', 'Histogram of maximum number of requested generation tokens.', tb);
    this.paramsN = hist('vllm:request_params_n', 'Histogram of the n request parameter.', PARAMS_N_BUCKETS);
    this.maxTokensParam = hist('vllm:request_params_max_tokens', 'Histogram of the max_tokens request parameter.', tb);
    this.prefillKvComputed = hist('vllm:request_prefill_kv_computed_tokens', 'Histogram of new KV tokens computed during prefill (excluding cached tokens).', tb);
    engine.onIteration((s) => this.iterationTokens.observe(s.promptTokens + s.generationTokens));
  }

  /** One generated token `gapMs` after the previous one. */
  observeInterToken(gapMs: number): void {
    this.itl.observe(gapMs / 1000);
    this.deprecatedTpot.observe(gapMs / 1000);
  }

  /**
   * One engine request (one choice) finished. `maxTokensParam` is the request's max_tokens as
   * vLLM's SamplingParams sees it (observed only when set, as vLLM does).
   */
  observeFinished(o: RequestOutcome, maxTokensParam: number | null, finishReason: string = o.finishReason): void {
    const t = o.timings;
    this.success.inc(finishReason);
    if (t.finishedMs === undefined) return;
    this.e2e.observe((t.finishedMs - t.arrivalMs) / 1000);
    this.promptTokens.observe(o.promptTokens);
    this.generationTokens.observe(o.completionTokens);
    if (maxTokensParam) this.maxTokensParam.observe(maxTokensParam);
    if (t.scheduledMs !== undefined) {
      this.queue.observe((t.scheduledMs - t.arrivalMs) / 1000);
      this.inference.observe((t.finishedMs - t.scheduledMs) / 1000);
      this.prefillKvComputed.observe(o.promptTokens - Math.max(o.cachedTokens, 0));
    }
    if (t.firstTokenMs !== undefined) {
      this.ttft.observe((t.firstTokenMs - t.arrivalMs) / 1000);
      if (t.scheduledMs !== undefined) this.prefill.observe((t.firstTokenMs - t.scheduledMs) / 1000);
      this.decode.observe((t.finishedMs - t.firstTokenMs) / 1000);
      if (o.completionTokens > 1) this.tpot.observe((t.finishedMs - t.firstTokenMs) / 1000 / (o.completionTokens - 1));
    }
  }

  /** A prompt's n choices all finished (vLLM's parent request): its n and its longest generation. */
  observeParentFinished(n: number, maxGenerationTokens: number): void {
    this.paramsN.observe(n);
    this.maxGenerationTokens.observe(maxGenerationTokens);
  }

  /** A request answered at once with finish reason cache_threshold (llm-d-inference-sim counts it as a success). */
  observeCacheThreshold(): void {
    this.success.inc('cache_threshold');
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
