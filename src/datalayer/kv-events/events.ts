/**
 * KV cache events as kvgate reads them from a vLLM engine, after decoding (./decoder.ts).
 *
 * Shapes follow vLLM's `vllm/distributed/kv_events.py` (BlockStored, BlockRemoved,
 * AllBlocksCleared inside an EventBatch), normalised so consumers never see the wire's
 * variants: hashes are unsigned 64-bit BigInts whatever the engine sent (u64, i64 or raw digest
 * bytes), fields an older vLLM did not send are null, and the block size is one number.
 */

/** An engine block hash, as an unsigned 64-bit integer (i64 values reinterpreted bitwise, as Dynamo does). */
export type EngineBlockHash = bigint;

/**
 * The extra keys vLLM folded into one block's hash, reduced to what a router can act on.
 * `cacheSalt`: the request's cache_salt (vLLM puts it on the first block only).
 * `other`: a canonical text of every other key (multimodal item ids, prompt-embeds hashes,
 * keys of unknown kinds) — content a router cannot see in token ids, so a block carrying it
 * must never match a request by tokens alone. LoRA-name keys are dropped: `loraName` says it.
 */
export interface BlockExtraKeys {
  cacheSalt: string | null;
  other: string | null;
}

export interface BlockStoredEvent {
  type: 'BlockStored';
  blockHashes: EngineBlockHash[];
  /** Hash of the block before the first one of `blockHashes`; null for a chain's first block. */
  parentBlockHash: EngineBlockHash | null;
  /** Token ids of all the blocks, `blockSize` per block, in order. */
  tokenIds: number[];
  /** Tokens per block (vLLM ≤ 0.9 sent `num_toks_per_block`, one entry per block; all full blocks). */
  blockSize: number;
  /** Deprecated by vLLM in favour of loraName. */
  loraId: number | null;
  loraName: string | null;
  /** "GPU", "CPU", "STORAGE"… (null: not said; vLLM before #19737 had GPU only). */
  medium: string | null;
  /** One entry per block, or null when vLLM sent none. */
  extraKeys: (BlockExtraKeys | null)[] | null;
  /** KV cache group (hybrid models); null when not sent, which means group 0. */
  groupIdx: number | null;
  kvCacheSpecKind: string | null;
  kvCacheSpecSlidingWindow: number | null;
}

export interface BlockRemovedEvent {
  type: 'BlockRemoved';
  blockHashes: EngineBlockHash[];
  medium: string | null;
  groupIdx: number | null;
}

export interface AllBlocksClearedEvent {
  type: 'AllBlocksCleared';
}

export type KvCacheEvent = BlockStoredEvent | BlockRemovedEvent | AllBlocksClearedEvent;

/** One engine step's events (vLLM's EventBatch). */
export interface KvEventBatch {
  /** Seconds since the epoch at the engine (Python's time.time()). */
  ts: number;
  events: KvCacheEvent[];
  /** Data-parallel rank of the publishing engine; null when the batch did not say. */
  dataParallelRank: number | null;
}

/** One ZMQ message of the event stream: `[topic, seq (u64 big-endian), msgpack(EventBatch)]`. */
export interface KvEventMessage {
  topic: string;
  seq: bigint;
  batch: KvEventBatch;
}
