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

export interface ChatMessage {
  role: string;
  content: string | Array<{ type: string; text?: string }> | null;
  name?: string;
}

/** Turns text into token ids and back. Equal text must give equal ids. */
export interface Tokenizer {
  readonly name: string;
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** Renders chat messages with the model's chat format (generation prompt appended). */
  renderChat(messages: ChatMessage[]): string;
  /** The exact text of each token of `text`, when the tokenizer can say (decode may not round-trip). */
  splitPieces?(text: string): string[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

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
  loraName?: string;
  cacheSalt?: string;
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
  /** Prompt tokens served from the prefix cache (whole blocks, capped at n−1). */
  cachedTokens: number;
  completionTokens: number;
  preemptions: number;
  timings: RequestTimings;
}

export interface RequestListener {
  /** Called once per generated token, at the step that produced it. */
  onToken(tokenId: number, index: number, nowMs: number): void;
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
