import { Registry } from 'prom-client';
import { fakeValueAt, type FakeMetrics } from './fake-metrics-config.js';
import { FINISH_REASONS, ITL_BUCKETS, REQUEST_LATENCY_BUCKETS, TTFT_BUCKETS, tokenBuckets } from './metrics.js';

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** A prom-client metric whose samples are computed at scrape time. */
function metric(name: string, help: string, type: 'gauge' | 'counter' | 'histogram', samples: () => Sample[]) {
  return {
    name,
    help,
    type,
    aggregator: 'sum' as const,
    get: async () => ({ name, help, type, values: samples(), aggregator: 'sum' as const }),
  };
}

/** Histogram samples from per-bucket counts: bucket i's samples sit at its upper bound (beyond the last bound for the +Inf bucket). */
function histogramSamples(name: string, labels: Record<string, string>, bounds: number[], counts: number[] = []): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  let sum = 0;
  for (let i = 0; i <= bounds.length; i++) {
    const c = counts[i] ?? 0;
    cumulative += c;
    sum += c * (i < bounds.length ? bounds[i] : bounds[bounds.length - 1] + 1);
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: i < bounds.length ? bounds[i] : '+Inf' }, value: cumulative });
  }
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}

/**
 * llm-d-inference-sim's fake metrics: with `--fake-metrics`, /metrics reports these values and
 * never the real ones. Generator gauges are evaluated at scrape time, stepped by the refresh
 * interval (running/waiting rounded down to integers, as llm-d-inference-sim does).
 */
export class FakeMetricsRegistry {
  readonly registry = new Registry();
  private values: FakeMetrics;
  private readonly startedAt = Date.now();

  constructor(
    initial: FakeMetrics,
    opts: { modelName: string; maxModelLen: number; refreshIntervalMs: number; maxLoras: number; cacheConfigLabels: Record<string, string>; engineIndex: number },
  ) {
    this.values = initial;
    const labels = { model_name: opts.modelName, engine: String(opts.engineIndex) };
    const t = () => Math.floor((Date.now() - this.startedAt) / opts.refreshIntervalMs) * opts.refreshIntervalMs;
    const gauge = (name: string, help: string, key: 'running-requests' | 'waiting-requests' | 'kv-cache-usage', round: boolean) =>
      metric(name, help, 'gauge', () => {
        const v = this.values[key];
        const x = v === undefined ? 0 : fakeValueAt(v, t());
        return [{ labels, value: round ? Math.floor(x) : x }];
      });
    const counter = (name: string, help: string, key: 'total-prompt-tokens' | 'total-generation-tokens' | 'prefix-cache-hits' | 'prefix-cache-queries') =>
      metric(name, help, 'counter', () => [{ labels, value: this.values[key] ?? 0 }]);
    const tb = tokenBuckets(opts.maxModelLen);
    const hist = (name: string, help: string, bounds: number[], key: keyof FakeMetrics) =>
      metric(name, help, 'histogram', () => histogramSamples(name, labels, bounds, this.values[key] as number[] | undefined));
    const all = [
      gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', 'running-requests', true),
      gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', 'waiting-requests', true),
      gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', 'kv-cache-usage', false),
      counter('vllm:prompt_tokens_total', 'Number of prefill tokens processed.', 'total-prompt-tokens'),
      counter('vllm:generation_tokens_total', 'Number of generation tokens processed.', 'total-generation-tokens'),
      counter('vllm:prefix_cache_hits_total', 'Prefix cache hits, in terms of number of cached tokens.', 'prefix-cache-hits'),
      counter('vllm:prefix_cache_queries_total', 'Prefix cache queries, in terms of number of queried tokens.', 'prefix-cache-queries'),
      metric('vllm:request_success_total', 'Count of successfully processed requests.', 'counter', () => {
        const totals = { ...Object.fromEntries(FINISH_REASONS.map((r) => [r, 0])), ...(this.values['request-success-total'] ?? {}) };
        return Object.entries(totals).map(([reason, value]) => ({ labels: { ...labels, finished_reason: reason }, value }));
      }),
      metric('vllm:lora_requests_info', 'Running stats on lora requests.', 'gauge', () =>
        (this.values.loras ?? []).map((l) => ({ labels: { max_lora: String(opts.maxLoras), running_lora_adapters: l.running, waiting_lora_adapters: l.waiting }, value: l.timestamp })),
      ),
      metric('vllm:cache_config_info', 'Information of the LLMEngine CacheConfig', 'gauge', () => [{ labels: opts.cacheConfigLabels, value: 1 }]),
      hist('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', TTFT_BUCKETS, 'ttft-buckets-values'),
      hist('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', ITL_BUCKETS, 'tpot-buckets-values'),
      hist('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.', ITL_BUCKETS, 'tpot-buckets-values'),
      hist('vllm:request_time_per_output_token_seconds', 'Histogram of time_per_output_token_seconds per request.', ITL_BUCKETS, 'request-tpot-buckets-values'),
      hist('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', REQUEST_LATENCY_BUCKETS, 'e2erl-buckets-values'),
      hist('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', REQUEST_LATENCY_BUCKETS, 'queue-time-buckets-values'),
      hist('vllm:request_inference_time_seconds', 'Histogram of time spent in RUNNING phase for request.', REQUEST_LATENCY_BUCKETS, 'inf-time-buckets-values'),
      hist('vllm:request_prefill_time_seconds', 'Histogram of time spent in PREFILL phase for request.', REQUEST_LATENCY_BUCKETS, 'prefill-time-buckets-values'),
      hist('vllm:request_decode_time_seconds', 'Histogram of time spent in DECODE phase for request.', REQUEST_LATENCY_BUCKETS, 'decode-time-buckets-values'),
      hist('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', tb, 'request-prompt-tokens'),
      hist('vllm:request_generation_tokens', 'Number of generation tokens processed.', tb, 'request-generation-tokens'),
      hist('vllm:request_max_num_generation_tokens', 'Histogram of maximum number of requested generation tokens.', tb, 'request-max-generation-tokens'),
      hist('vllm:request_params_max_tokens', 'Histogram of the max_tokens request parameter.', tb, 'request-params-max-tokens'),
    ];
    for (const m of all) this.registry.registerMetric(m as never);
  }

  get current(): FakeMetrics {
    return this.values;
  }

  set(values: FakeMetrics): void {
    this.values = values;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
