/**
 * Contract of the engine (one simulated vLLM engine), shared by sim/ and the later virtual-time
 * cluster simulator. The engine is clock-agnostic: time only enters through `Clock`.
 * Fields may be added; do not rename existing ones (sim/ depends on them).
 */

/** Injected time source and timer. Real time for `kvgate sim`, virtual time for simulations. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Runs fn after delayMs (0 = as soon as possible, after current work). */
  setTimer(fn: () => void, delayMs: number): unknown;
  clearTimer(handle: unknown): void;
}

export type { ChatMessage, Tokenizer } from '../shared/tokenizer/types.js';

export type FinishReason = 'stop' | 'length' | 'abort';

/** Prompt KV computed on another instance (vLLM P/D disaggregation, `kv_transfer_params.do_remote_prefill`). */
export interface RemotePrefill {
  /** How long pulling the KV blocks takes (ms); the engine keeps stepping other requests meanwhile. */
  transferMs: number;
}

export interface EngineRequest {
  id: string;
  promptTokenIds: number[];
  /** Tokens to generate at most. */
  maxTokens: number;
  /**
   * As vLLM's ignore_eos: generate maxTokens even past the natural end. Only echo mode has a
   * natural end (the echoed text); random generation always runs to maxTokens.
   */
  ignoreEos: boolean;
  /** LoRA adapter the request runs with (counts against `maxLoras`; partitions the prefix cache). */
  loraName?: string;
  /** vLLM's lora_int_id of that adapter (1-based), carried in BlockStored events. */
  loraId?: number;
  cacheSalt?: string;
  /** Sampling seed of this request (vLLM's `seed`): the same seed and prompt give the same tokens. */
  seed?: number;
  /** The prompt's KV arrives from a prefill instance instead of being computed here. */
  remotePrefill?: RemotePrefill;
  /** Report the KV block ids the request held when it finished (`outcome.blockIds`, for P/D). */
  keepBlockIds?: boolean;
  /** Do not read the prefix cache (vLLM skips it for requests asking for prompt logprobs). */
  skipPrefixCache?: boolean;
  /**
   * Tokens to emit (echo mode). When given, generation stops after them with reason "stop"
   * (or at maxTokens with "length"; with ignoreEos it continues with sampled tokens up to
   * maxTokens); otherwise the engine generates exactly maxTokens tokens.
   */
  outputTokenIds?: number[];
}

export interface RequestTimings {
  arrivalMs: number;
  /** First time the request was scheduled (queue time ends). */
  scheduledMs?: number;
  firstTokenMs?: number;
  finishedMs?: number;
}

export interface RequestOutcome {
  finishReason: FinishReason;
  promptTokens: number;
  /** Prompt tokens not computed here: prefix-cache hits (whole blocks, capped at n−1) plus KV pulled from a remote prefill. */
  cachedTokens: number;
  /** Of cachedTokens, the ones pulled from a remote prefill instance (vLLM's num_external_computed_tokens). */
  externalTokens: number;
  completionTokens: number;
  preemptions: number;
  timings: RequestTimings;
  /** KV block ids held at the end (only with `keepBlockIds`). */
  blockIds?: number[];
}

export interface RequestListener {
  /**
   * Called once per generated token, at the step that produced it. `finishReason` is set on the
   * request's last token (so a stream can carry it with that token, as vLLM's does). Returning
   * 'stop' ends the request at this token with finish reason "stop" (a stop string or stop token
   * id matched, which only the server's detokenized text can tell).
   */
  onToken(tokenId: number, index: number, nowMs: number, finishReason?: FinishReason): void | 'stop';
  onFinish(outcome: RequestOutcome): void;
}

/** Cumulative and current figures the simulator exports as vLLM metrics. */
export interface EngineStats {
  running: number;
  waiting: number;
  /** Non-free blocks / capacity (cached-but-unreferenced blocks count as free), 0..1. */
  kvCacheUsage: number;
  numGpuBlocks: number;
  blockSize: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  preemptions: number;
  promptTokens: number;
  generationTokens: number;
  /** Prompt tokens by where their KV came from, as vLLM's PromptTokenStats counts them at first token. */
  promptTokensCached: number;
  promptTokensRecomputed: number;
  promptTokensLocalCompute: number;
  promptTokensLocalCacheHit: number;
  promptTokensExternal: number;
  /** KV-connector lookups (P/D decode side): tokens asked for and tokens pulled, as vLLM's external_prefix_cache_*. */
  externalPrefixCacheQueries: number;
  externalPrefixCacheHits: number;
  /** 0 awake; 1 or 2 asleep at that vLLM sleep level. */
  sleepLevel: number;
}

/** Per-adapter request counts, as vLLM's LoRARequestStates reports them to vllm:lora_requests_info. */
export interface LoraStats {
  running: Map<string, number>;
  waiting: Map<string, number>;
}

/** Tokens one engine step produced, as vLLM's IterationStats counts them (vllm:iteration_tokens_total). */
export interface IterationStats {
  /** Prompt lengths of the requests whose first token came out of this step. */
  promptTokens: number;
  /** Tokens generated in this step. */
  generationTokens: number;
}

/** KV cache events as vLLM publishes them (one batch per engine step). */
export type KvEvent =
  | {
      type: 'BlockStored';
      blockHashes: bigint[];
      parentBlockHash: bigint | null;
      tokenIds: number[];
      blockSize: number;
      loraId: number | null;
      medium: 'GPU';
      loraName: string | null;
    }
  | { type: 'BlockRemoved'; blockHashes: bigint[]; medium: 'GPU' }
  | { type: 'AllBlocksCleared' };

export interface KvEventBatch {
  /** Seconds since the epoch (time.time() in vLLM), from the injected clock. */
  ts: number;
  events: KvEvent[];
}

export interface Engine {
  submit(req: EngineRequest, listener: RequestListener): void;
  /** Aborts a waiting or running request (client went away); finishes it with reason "abort". */
  abort(id: string): void;
  stats(): EngineStats;
  /** Subscribes to KV events; returns an unsubscribe function. */
  onKvEvents(listener: (batch: KvEventBatch) => void): () => void;
  /** Drops all cached blocks (emits AllBlocksCleared). */
  resetPrefixCache(): void;
}
