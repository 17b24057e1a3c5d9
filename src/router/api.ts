/**
 * The router core's public contract, shared by every ingress (gateway/, extproc/) and by tests.
 *
 * The core does no I/O: ingress adapters feed it parsed requests, the datastore feeds it endpoint
 * state, and every call takes the current time, so the same code runs in real and virtual time.
 * Fields may be added; existing names are a contract between folders — do not rename them.
 */

/** One model-server endpoint (a vLLM replica or a simulator). */
export interface EndpointInfo {
  /** Stable identity: "host:port" as Envoy's x-gateway-destination-endpoint expects it. */
  id: string;
  host: string;
  port: number;
  /** Base URL for HTTP proxying and /metrics scraping, e.g. "http://127.0.0.1:8000". */
  url: string;
  labels: Record<string, string>;
  /** Metrics dialect to scrape: vLLM (default), SGLang or TensorRT-LLM names. */
  metricsDialect?: 'vllm' | 'sglang' | 'trtllm';
}

/** Metrics scraped from an endpoint's /metrics (vLLM names or the fallbacks). */
export interface EndpointMetrics {
  waitingQueueSize: number;
  runningRequests: number;
  /** 0..1 fraction of KV blocks in use. */
  kvCacheUsage: number;
  activeLoras: string[];
  waitingLoras: string[];
  maxLoras: number;
  /** From vllm:cache_config_info when present. */
  blockSize?: number;
  numGpuBlocks?: number;
  /**
   * The engine's batch size limit (vLLM `max_num_seqs`) when the endpoint reports it (a
   * `max_num_seqs` label on `vllm:cache_config_info` or `vllm:scheduler_config_info`); sizes the
   * gateway's per-endpoint concurrency cap.
   */
  maxNumSeqs?: number;
  /**
   * The engine's prefill token budget per step (vLLM `max_num_batched_tokens`) when the endpoint
   * reports it (a label on `vllm:scheduler_config_info`, as kvgate sim exports it).
   */
  maxNumBatchedTokens?: number;
  /** When these values were scraped (ms, same clock as pick()). */
  updatedAtMs: number;
}

/** What the ingress parsed from one request, once. */
export interface RouteRequest {
  /** kvgate's own id, unique per request in this process (bookkeeping key; never client-chosen). */
  id: string;
  /** The client's x-request-id, if any: echoed and logged, never used as a key. */
  clientRequestId?: string;
  /** The requested model name as sent by the client. */
  model: string;
  api: 'completions' | 'chat' | 'other';
  /**
   * Text that prefix affinity is computed over: the completions `prompt`, or the chat conversation
   * rendered as the engine would (the model's chat template, else canonical ChatML).
   */
  prefixText: string;
  /** Prompt length in tokens (estimated at ~4 characters per token unless the ingress knows better). */
  promptTokens: number;
  /**
   * The prompt's token ids as the engine will see them: the completions prompt when the client sent
   * ids, else `prefixText` tokenized by the router — only when a plugin matches prefixes exactly
   * (precise prefix routing), once per request, by the lifecycle.
   */
  promptTokenIds?: ArrayLike<number>;
  maxTokens?: number;
  stream: boolean;
  /** The client asked for the final usage chunk (`stream_options` present with `include_usage` absent or true, as vLLM). */
  includeUsage?: boolean;
  /** InferenceObjective priority; negative means sheddable. Default 0. */
  priority: number;
  sessionId?: string;
  cacheSalt?: string;
  /** LoRA adapter name when the model names one. */
  loraAdapter?: string;
  /** Request headers the ingress decided to trust (never raw client routing headers). */
  headers?: Record<string, string>;
  /** Endpoint ids the caller allows (the ext_proc subset hint); undefined means all. */
  subset?: string[];
}

export interface EndpointScore {
  endpointId: string;
  /** Σ weight × clamp(score, 0, 1) over the profile's scorers. */
  total: number;
  /** Per scorer plugin name: the clamped score before weighting. */
  byPlugin: Record<string, number>;
  /** The endpoint's prefix match in blocks and where it came from (when a prefix producer ran). */
  prefix?: { matchedBlocks: number; source: PrefixSource };
}

/**
 * Where an endpoint's prefix match came from: `exact` — the engine's own KV events (the exact
 * index); `approx` — the router's record of where it sent which text (the approximate index).
 */
export type PrefixSource = 'exact' | 'approx';

export interface PickResult {
  requestId: string;
  /** Ordered: the chosen endpoint first, then fallbacks for retries. Never empty. */
  endpoints: EndpointInfo[];
  /**
   * How many of `endpoints`, from the first, the picker itself chose (its `maxNumOfEndpoints`,
   * GIE's fallback count; absent = 1). An ext_proc ingress names only these to the proxy; the rest
   * are the gateway's own failover order.
   */
  picked?: number;
  /** The primary profile's name. */
  profile: string;
  /** Scores of every candidate that survived the filters (for --debug-scores and tests). */
  scores: EndpointScore[];
  /** Prefix match of the chosen endpoint, in blocks (of blockTokens tokens), when a prefix scorer ran; `source` when known. */
  prefixMatch?: { matchedBlocks: number; totalBlocks: number; blockTokens?: number; source?: PrefixSource };
}

/** Usage reported by the model server, when the ingress saw it. */
export interface RequestUsage {
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
}

export interface Router {
  /**
   * Chooses endpoints for a request and starts its in-flight bookkeeping on the first one.
   * Throws a KvgateError: Shed (429) when saturated and the request is sheddable,
   * NoCandidates (503) when nothing can serve it, ModelNotFound (404) when no endpoint serves the model.
   */
  pick(req: RouteRequest, nowMs: number): PickResult;
  /** The ingress moved the request to another endpoint of the list (failover). */
  onRetry(requestId: string, endpointId: string, nowMs: number): void;
  /** First response byte/token seen: releases the prefill share of in-flight load. */
  onFirstToken(requestId: string, nowMs: number): void;
  /** Request finished (any outcome); releases all its in-flight bookkeeping. Idempotent. */
  onComplete(requestId: string, nowMs: number, usage?: RequestUsage): void;
  /** The endpoint failed this request (connect error, reset, 5xx before the first byte). */
  onFailure(requestId: string, endpointId: string, nowMs: number): void;
  readonly datastore: Datastore;
}

/**
 * A model an endpoint serves, from its `/v1/models` (vLLM's fields): a base model (`root` = the
 * weights it was loaded from) or a LoRA adapter (`parent` = its base model).
 */
export interface ServedModel {
  id: string;
  root?: string;
  parent?: string | null;
  maxModelLen?: number;
  /** The entry as the endpoint sent it, for `/v1/models` through the gateway. */
  raw: Record<string, unknown>;
}

export interface EndpointState {
  info: EndpointInfo;
  healthy: boolean;
  metrics?: EndpointMetrics;
  /** What `/v1/models` listed at the last probe; undefined until one answered. */
  models?: ServedModel[];
  /** Router-side bookkeeping: requests and uncached prompt tokens dispatched and not yet released. */
  inFlightRequests: number;
  /** Of inFlightRequests, those of sheddable priority (< 0): flow control reserves slots for the rest. */
  inFlightSheddable: number;
  inFlightTokens: number;
  /** Uncached prompt tokens this router sent there since its last scrape, not yet prefilled. */
  dispatchedTokensSinceScrape: number;
  /**
   * Requests this router sent there since its last scrape that have not started (no first token)
   * or ended: the engine's waiting queue as it grew after the metrics were read.
   */
  dispatchedSinceScrape: number;
}

export interface Datastore {
  /** Replaces the endpoint set (discovery); keeps state of endpoints that stay. */
  setEndpoints(endpoints: EndpointInfo[]): void;
  upsertEndpoint(endpoint: EndpointInfo): void;
  removeEndpoint(id: string): void;
  list(): EndpointState[];
  get(id: string): EndpointState | undefined;
  updateMetrics(id: string, metrics: EndpointMetrics): void;
  /** Health from active checks / passive ejection (gateway). Unhealthy endpoints are not candidates. */
  setHealthy(id: string, healthy: boolean): void;
  /** The endpoint's served models, from its `/v1/models`. */
  setModels(id: string, models: ServedModel[]): void;
  /** Registers a listener for endpoint events; returns a function that removes it. */
  subscribe(listener: DatastoreListener): () => void;
}

/** What components that keep per-endpoint state (prefix indexes, health) hear from the datastore. */
export interface DatastoreListener {
  /** The endpoint left the pool; `last` is its state as it left (models, metrics). */
  endpointRemoved?(id: string, last?: EndpointState): void;
  metricsUpdated?(id: string, metrics: EndpointMetrics): void;
  /** Active or passive health changed the endpoint's state (ejected: false; readmitted: true). */
  healthChanged?(id: string, healthy: boolean): void;
}
