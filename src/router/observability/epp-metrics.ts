import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LabeledCounter, LabeledHistogram, observe, registerOverflowCounter, type CounterSeries, type HistogramSeries, type SeriesLimit } from './labeled-metrics.js';
import type { Datastore, EndpointInfo } from '../api.js';
import type { FlowControl } from '../flowcontrol/index.js';
import { registerFlowControlMetrics } from './flow-control-metrics.js';
import { gieErrorCode } from './gie-error-code.js';
import { timePerOutputToken } from './time-per-output-token.js';
import type { InvalidResponseReason } from './usage-tap.js';
import type { Logger } from '../../shared/logger.js';

// The EPP's latency buckets (5 ms … 3600 s).
const LATENCY_BUCKETS = [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
const TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536, 131072, 262144, 524288, 1048576];
// GIE's output-token and response-size buckets stop lower than its input ones.
const OUTPUT_TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
const RESPONSE_SIZE_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536];
const REQUEST_SIZE_BUCKETS = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824];
const NTPOT_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
// GIE's TTFT histogram uses LATENCY_BUCKETS; its TPOT buckets (0.5 ms … 360 s) are these
// (pkg/epp/metrics/metrics.go, v1.5.0).
const TPOT_BUCKETS = [0.0005, 0.00205, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3, 4.5, 6, 12, 18, 24, 30, 36, 48, 60, 90, 120, 180, 270, 360];
const PLUGIN_BUCKETS = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
const HIT_BYTES_BUCKETS = [0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
const SCHEDULER_BUCKETS = [0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1];
const RATIO_BUCKETS = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/**
 * The `model_name` / `target_model_name` of a request whose model no endpoint turned out to serve
 * (404), or that was rejected before endpoints for its model were found (503 no ready endpoint):
 * its model name came from the client, and one series per name would let
 * clients grow /metrics without bound. The empty value is what GIE's EPP records for a request
 * that fails before its model is read (the deferred error counter in pkg/epp/handlers/server.go
 * runs with the request context's Model still ""), and in PromQL it matches `model_name=""`, the
 * same as a series without the label.
 */
export const UNSERVED_MODEL = '';

export interface RequestRecord {
  /** The request's model, or UNSERVED_MODEL (see there). */
  model: string;
  targetModel: string;
  priority: number;
  endpoint?: string;
  status: number;
  /**
   * kvgate's code, set for failures: with a status ≥ 400, or a response cut short after its 200
   * went out (counted as an error). The error counter records GIE's code for it (gie-error-code.ts).
   */
  errorCode?: string;
  /** Seconds from the request's start to the end of its response. */
  durationS: number;
  /** Seconds from the request's start to the first response byte (a stream's first token); unset when none came. */
  ttftS?: number;
  /** The response was a stream (SSE), so its first byte was its first token and TPOT can be measured. */
  streamed?: boolean;
  inputTokens?: number;
  outputTokens?: number;
  cachedTokens?: number;
  /** A 2xx response body that should have been JSON and did not parse (usage-tap.ts); its token counts are unset. */
  invalidResponse?: InvalidResponseReason;
  /** Request body bytes as received. */
  requestBytes?: number;
  /** Response body bytes sent to the client. */
  responseBytes?: number;
}

export interface EppMetricsOptions {
  poolName: string;
  processMetrics?: boolean;
  /** Entries in the router's prefix indexes (inference_extension_prefix_indexer_size). */
  prefixIndexSize?: () => number;
  /** Build identity for inference_extension_info. */
  build?: { commit: string; ref: string };
  /** Distinct label sets per labelled metric before new ones fold into an overflow series (labeled-metrics.ts; default 1000). */
  maxSeriesPerMetric?: number;
  /** Warned once per metric that reaches that limit. */
  logger?: Logger;
}

/** The series one kind of request (model, target model, priority) updates, resolved once. */
interface ObjectiveSeries {
  requests: CounterSeries;
  duration: HistogramSeries;
  input: HistogramSeries;
  output: HistogramSeries;
  cached: HistogramSeries;
  requestSizes: HistogramSeries;
  responseSizes: HistogramSeries;
  ntpot: HistogramSeries;
  ttft: HistogramSeries;
  tpot: HistogramSeries;
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
  private readonly prefixSource: { exact: CounterSeries; approx: CounterSeries };
  private readonly tokenization: HistogramSeries;
  private readonly requestSizes: LabeledHistogram;
  private readonly responseSizes: LabeledHistogram;
  private readonly ntpot: LabeledHistogram;
  private readonly ttft: LabeledHistogram;
  private readonly tpot: LabeledHistogram;
  private readonly attempts: LabeledCounter;
  private readonly invalidResponses: Record<InvalidResponseReason, CounterSeries>;
  /** Successful attempts' series per model, then per endpoint (the label values never change for an EndpointInfo). */
  private readonly attemptSeries = new Map<string, WeakMap<EndpointInfo, CounterSeries>>();
  private readonly pluginDuration: LabeledHistogram;
  /** Plugin series by name, then extension point: found with two lookups of constant strings, no key built per call. */
  private readonly pluginSeries = new Map<string, Map<string, HistogramSeries>>();
  private readonly hitBytes: HistogramSeries;
  private readonly running = new Map<string, number>();
  private readonly objectives = new Map<string, ObjectiveSeries>();
  private readonly poolName: string;
  private readonly limit: SeriesLimit;

  constructor(datastore: Datastore, opts: EppMetricsOptions) {
    const r = this.registry;
    const name = opts.poolName;
    this.poolName = name;
    const objective = ['model_name', 'target_model_name'];
    const limit: SeriesLimit = (this.limit = {
      maxSeries: opts.maxSeriesPerMetric,
      onOverflow: (metric, max) => opts.logger?.warn({ metric, maxSeries: max }, 'metric reached its series limit: observations with new label values now go to its "__overflow__" series (kvgate_metric_series_overflow_total counts them)'),
    });
    // First, so every labelled metric below (and the flow-control ones registered later) has its
    // kvgate_metric_series_overflow_total series at 0 from the start.
    registerOverflowCounter(r);
    this.requests = new LabeledCounter('inference_objective_request_total', 'Counter of inference objective requests.', [...objective, 'priority'], r, limit);
    this.errors = new LabeledCounter('inference_objective_request_error_total', 'Counter of inference objective request errors.', [...objective, 'error_code'], r, limit);
    this.duration = new LabeledHistogram('inference_objective_request_duration_seconds', 'Inference objective response latency distribution in seconds.', objective, LATENCY_BUCKETS, r, limit);
    this.input = new LabeledHistogram('inference_objective_input_tokens', 'Inference objective input token count distribution.', objective, TOKEN_BUCKETS, r, limit);
    this.output = new LabeledHistogram('inference_objective_output_tokens', 'Inference objective output token count distribution.', objective, OUTPUT_TOKEN_BUCKETS, r, limit);
    this.requestSizes = new LabeledHistogram('inference_objective_request_sizes', 'Inference objective requests size distribution in bytes.', objective, REQUEST_SIZE_BUCKETS, r, limit);
    this.responseSizes = new LabeledHistogram('inference_objective_response_sizes', 'Inference objective responses size distribution in bytes.', objective, RESPONSE_SIZE_BUCKETS, r, limit);
    this.ntpot = new LabeledHistogram('inference_objective_normalized_time_per_output_token_seconds', 'Inference objective latency divided by number of output tokens distribution in seconds.', objective, NTPOT_BUCKETS, r, limit);
    this.ttft = new LabeledHistogram('inference_objective_request_ttft_seconds', 'Inference objective time to first token distribution in seconds.', objective, LATENCY_BUCKETS, r, limit);
    this.tpot = new LabeledHistogram('inference_objective_request_tpot_seconds', 'Inference objective time per output token after the first distribution in seconds.', objective, TPOT_BUCKETS, r, limit);
    this.attempts = new LabeledCounter('inference_extension_scheduler_attempts_total', 'Total number of scheduling attempts.', ['status', 'target_model_name', 'pod_name', 'namespace', 'port'], r, limit);
    this.pluginDuration = new LabeledHistogram('inference_extension_plugin_duration_seconds', 'Plugin processing latency distribution in seconds for each extension point, plugin type and plugin name.', ['extension_point', 'plugin_type', 'plugin_name'], PLUGIN_BUCKETS, r, limit);
    this.hitBytes = new LabeledHistogram('inference_extension_prefix_indexer_hit_bytes', 'Length of the prefix match in number of bytes in the cache lookup.', [], HIT_BYTES_BUCKETS, r, limit).series();
    this.cached = new LabeledHistogram('inference_objective_prompt_cached_tokens', 'Inference objective prompt cached token count distribution.', objective, TOKEN_BUCKETS, r, limit);
    this.scheduler = new LabeledHistogram('inference_extension_scheduler_e2e_duration_seconds', 'End-to-end scheduling latency distribution in seconds.', [], SCHEDULER_BUCKETS, r, limit).series();
    this.hitRatio = new LabeledHistogram('inference_extension_prefix_indexer_hit_ratio', 'Ratio of prefix blocks found in the index per request.', [], RATIO_BUCKETS, r, limit).series();
    // Envoy's and vLLM's names have no counter of unreadable 2xx bodies; kvgate's own, with a
    // reason label so other kinds can join it. The series starts at 0 (a known label value).
    const invalid = new LabeledCounter('kvgate_upstream_invalid_responses_total', 'Model-server responses with a 2xx status whose body could not be read, by reason (invalid_json: a body that is not an event stream and not JSON, answering a non-streamed request or a streamed one, e.g. a text/html page); no token counts are recorded for them.', ['reason'], r, limit);
    this.invalidResponses = { invalid_json: invalid.series('invalid_json') };
    this.picks = new LabeledCounter('kvgate_endpoint_picks_total', 'Requests sent to each endpoint (after failover).', ['endpoint'], r, limit);
    const source = new LabeledCounter('kvgate_prefix_match_source_total', "Routing decisions by where the chosen endpoint's prefix match came from: exact (the engine's KV events) or approx (the router's own record).", ['source'], r, limit);
    this.prefixSource = { exact: source.series('exact'), approx: source.series('approx') };
    this.tokenization = new LabeledHistogram('kvgate_tokenize_duration_seconds', 'Router-side tokenization of a prompt for precise prefix matching, seconds.', [], SCHEDULER_BUCKETS, r, limit).series();
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
    const running = this.running;
    new Gauge({ name: 'inference_objective_running_requests', help: 'Inference objective number of running requests in each model.', labelNames: ['model_name'], registers, collect() { this.reset(); for (const [m, n] of running) this.set({ model_name: m }, n); } });
    new Gauge({ name: 'inference_pool_per_pod_queue_size', help: 'The total number of requests pending in the model server queue for each underlying pod.', labelNames: ['name', 'model_server_pod'], registers, collect() { this.reset(); for (const e of datastore.list()) this.set({ name, model_server_pod: podName(e.info) }, e.metrics?.waitingQueueSize ?? 0); } });
    const prefixSize = opts.prefixIndexSize;
    new Gauge({ name: 'inference_extension_prefix_indexer_size', help: 'Size of the prefix indexer.', registers, collect() { this.set(prefixSize ? prefixSize() : 0); } });
    const build = opts.build ?? { commit: 'unknown', ref: 'unknown' };
    new Gauge({ name: 'inference_extension_info', help: 'General information of the current build of Inference Extension.', labelNames: ['commit', 'build_ref'], registers, collect() { this.set({ commit: build.commit, build_ref: build.ref }, 1); } });
    // kvgate's own: the router's in-flight bookkeeping per endpoint (what load-aware scorers see).
    new Gauge({ name: 'kvgate_endpoint_in_flight_requests', help: 'Requests this router dispatched to the endpoint and not yet completed.', labelNames: ['endpoint'], registers, collect() { this.reset(); for (const e of datastore.list()) this.set({ endpoint: e.info.id }, e.inFlightRequests); } });
    new Gauge({ name: 'kvgate_endpoint_in_flight_prompt_tokens', help: 'Uncached prompt tokens dispatched to the endpoint and not yet prefilled (released at the first token).', labelNames: ['endpoint'], registers, collect() { this.reset(); for (const e of datastore.list()) this.set({ endpoint: e.info.id }, e.inFlightTokens); } });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Adds flow control's queue and saturation series (see flow-control-metrics.ts). Once per registry. */
  attachFlowControl(flow: FlowControl, datastore: Datastore, now: () => number): void {
    registerFlowControlMetrics(this.registry, flow, datastore, now, this.poolName, this.limit);
  }

  /** A request was routed (it counts as running for its model until `requestEnded`). */
  requestStarted(model: string): void {
    this.running.set(model, (this.running.get(model) ?? 0) + 1);
  }

  /** The request counted by `requestStarted` ended; `served` is false when its model turned out not to be served (404). */
  requestEnded(model: string, served = true): void {
    const n = Math.max(0, (this.running.get(model) ?? 1) - 1);
    // An idle model keeps its series at 0 (one per model, as GIE's gauge), so dashboards see it;
    // a name no endpoint serves came from the client and keeps none.
    if (n === 0 && !served) this.running.delete(model);
    else this.running.set(model, n);
  }

  /** One scheduling attempt: `success` with the chosen endpoint, or `failure`. */
  observeAttempt(success: boolean, targetModel: string, endpoint?: EndpointInfo): void {
    if (!success || !endpoint) {
      this.attempts.series(success ? 'success' : 'failure', targetModel, endpoint ? podName(endpoint) : '', endpoint?.labels['kvgate.io/namespace'] ?? '', endpoint ? String(endpoint.port) : '').value++;
      return;
    }
    let s = this.attemptSeries.get(targetModel)?.get(endpoint);
    if (!s) {
      s = this.attempts.series('success', targetModel, podName(endpoint), endpoint.labels['kvgate.io/namespace'] ?? '', String(endpoint.port));
      // Past the series limit, no entry per model name either (see observeRequest).
      if (!s.overflow) {
        let byEndpoint = this.attemptSeries.get(targetModel);
        if (!byEndpoint) this.attemptSeries.set(targetModel, (byEndpoint = new WeakMap()));
        byEndpoint.set(endpoint, s);
      }
    }
    s.value++;
  }

  /** A plugin's time in one scheduling cycle (GIE's extension points: DataProducer, Filter, Scorer, Picker, PreRequest). */
  observePlugin(extensionPoint: string, pluginType: string, pluginName: string, seconds: number): void {
    let byPoint = this.pluginSeries.get(pluginName);
    if (!byPoint) this.pluginSeries.set(pluginName, (byPoint = new Map()));
    let s = byPoint.get(extensionPoint);
    if (!s || s.labels.plugin_type !== pluginType) byPoint.set(extensionPoint, (s = this.pluginDuration.series(extensionPoint, pluginType, pluginName)));
    observe(s, seconds);
  }

  observeScheduling(seconds: number, prefix?: { matchedBlocks: number; totalBlocks: number; blockTokens?: number; source?: 'exact' | 'approx' }): void {
    observe(this.scheduler, seconds);
    if (prefix && prefix.totalBlocks > 0) {
      observe(this.hitRatio, prefix.matchedBlocks / prefix.totalBlocks);
      // Bytes as GIE sizes them: ~4 characters per token.
      observe(this.hitBytes, prefix.matchedBlocks * (prefix.blockTokens ?? 16) * 4);
    }
    if (prefix?.source) this.prefixSource[prefix.source].value++;
  }

  observeTokenization(seconds: number): void {
    observe(this.tokenization, seconds);
  }

  /**
   * One finished request. Successful ones also give TTFT (when a byte came) and, for streams of
   * 2 or more output tokens, TPOT = (duration − TTFT) ÷ (output tokens − 1): a response that is
   * not streamed arrives whole, so its time after the first byte says nothing about decoding
   * (GIE's latency plugin likewise records no zero TPOT).
   */
  observeRequest(r: RequestRecord): void {
    const priority = String(r.priority);
    const key = `${r.model}\u0000${r.targetModel}\u0000${priority}`;
    let o = this.objectives.get(key);
    if (!o) {
      o = this.objectiveSeries(r.model, r.targetModel, priority);
      // One entry per series, as prom-client keeps one per label set. A label set that got an
      // overflow series is resolved again next time instead: kept, the map would grow with
      // every new (client-chosen) label set that the metrics themselves refuse.
      if (!Object.values(o).some((x: { overflow?: true }) => x.overflow)) this.objectives.set(key, o);
    }
    o.requests.value++;
    // A response cut short after its status went out (a replica dying mid-stream) is an error too.
    const ok = r.status < 400 && r.errorCode === undefined;
    if (!ok) this.errors.series(r.model, r.targetModel, gieErrorCode(r.errorCode)).value++;
    observe(o.duration, r.durationS);
    if (r.inputTokens !== undefined) observe(o.input, r.inputTokens);
    if (r.outputTokens !== undefined) observe(o.output, r.outputTokens);
    if (r.cachedTokens !== undefined) observe(o.cached, r.cachedTokens);
    if (r.requestBytes !== undefined) observe(o.requestSizes, r.requestBytes);
    if (r.responseBytes !== undefined) observe(o.responseSizes, r.responseBytes);
    if (ok && r.outputTokens) observe(o.ntpot, r.durationS / r.outputTokens);
    if (ok && r.ttftS !== undefined) {
      observe(o.ttft, r.ttftS);
      const tpot = r.streamed && r.outputTokens !== undefined ? timePerOutputToken(r.durationS, r.ttftS, r.outputTokens) : undefined;
      if (tpot !== undefined) observe(o.tpot, tpot);
    }
    if (r.invalidResponse) this.invalidResponses[r.invalidResponse].value++;
    if (r.endpoint) this.picks.series(r.endpoint).value++;
  }

  private objectiveSeries(model: string, targetModel: string, priority: string): ObjectiveSeries {
    return {
      requests: this.requests.series(model, targetModel, priority),
      duration: this.duration.series(model, targetModel),
      input: this.input.series(model, targetModel),
      output: this.output.series(model, targetModel),
      cached: this.cached.series(model, targetModel),
      requestSizes: this.requestSizes.series(model, targetModel),
      responseSizes: this.responseSizes.series(model, targetModel),
      ntpot: this.ntpot.series(model, targetModel),
      ttft: this.ttft.series(model, targetModel),
      tpot: this.tpot.series(model, targetModel),
    };
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The pod a GIE metric names: the Kubernetes pod name when discovery knows it, else host:port. */
function podName(e: EndpointInfo): string {
  return e.labels['kvgate.io/pod'] || e.id;
}
