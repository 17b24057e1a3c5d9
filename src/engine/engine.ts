import type {
  Clock,
  Engine,
  EngineRequest,
  EngineStats,
  FinishReason,
  IterationStats,
  KvEventBatch,
  LoraStats,
  RequestListener,
  RequestOutcome,
  RequestTimings,
} from './types.js';
import { BlockPool } from './block-pool.js';
import { hashBlock, hashKey, rootHash } from '../shared/hashing/block-hash.js';
import { Deque } from './deque.js';
import { RealClock } from './clock.js';
import { ESTIMATE_OUTPUT_VOCAB } from './tokenizer/estimate.js';
import { createRng } from '../shared/rng.js';
import { mixSeed } from '../shared/seed.js';
import { loadFactor, stepDurationMs, type LatencyModel, type LatencyProfile } from './profiles.js';
import { gaussianClamped } from './jitter.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { MAX_KV_BLOCKS, describeBlockLimit } from './limits.js';

export interface EngineOptions {
  profile: LatencyProfile;
  clock: Clock;
  seed?: number;
  blockSize?: number;
  /** KV cache capacity in blocks (default: the profile's). */
  kvCacheSize?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  maxModelLen?: number;
  enablePrefixCaching?: boolean;
  modelName?: string;
  /** Folded into every block hash, like PYTHONHASHSEED (default: the model name). */
  hashSeed?: string;
  /** Emit KV events (costs a little per block). Default true. */
  kvEvents?: boolean;
  /**
   * vLLM's `--max-loras`: at most this many distinct LoRA adapters in the running batch; a waiting
   * request whose adapter would exceed it is skipped (and stays first in line), as vLLM V1's
   * scheduler does. Undefined = no limit.
   */
  maxLoras?: number;
}

/** Output ids sampled when the caller gives none: the estimate tokenizer's word pieces. */
const SAMPLED_VOCAB = ESTIMATE_OUTPUT_VOCAB;

interface Seq {
  req: EngineRequest;
  listener: RequestListener;
  /** Prompt followed by generated tokens. */
  tokens: number[];
  promptLen: number;
  target: number;
  targetReason: FinishReason;
  numComputed: number;
  blocks: number[];
  /** Leading blocks registered in the prefix cache. */
  registered: number;
  hashHi: number[];
  hashLo: number[];
  root: [number, number];
  generated: number;
  cachedTokens: number;
  scheduledOnce: boolean;
  isRunning: boolean;
  preemptions: number;
  timings: RequestTimings;
  rng: () => number;
  done: boolean;
  /** LoRA adapter name, or null for the base model. */
  lora: string | null;
  /** Prompt tokens whose KV came from a remote prefill (P/D). */
  external: number;
  /** A remote-prefill KV pull is in flight: the request holds its blocks but takes no step. */
  loading: boolean;
  /** The remote-prefill pull has happened (a later preemption recomputes locally, as vLLM does). */
  pulled: boolean;
}

/** Folds a request seed (vLLM's per-request `seed`: any safe integer, negative too) into 32 bits. */
function requestSeedState(seed: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  return (Math.imul(lo ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(hi, 0xc2b2ae35)) >>> 0;
}

/**
 * The token stream state of the `ordinal`-th request (1, 2, …) submitted without a seed of its own,
 * from the engine seed (all its bits, mixSeed) and the ordinal. Multiplying by 0x9e3779b1 (2^32/φ)
 * spreads neighbouring seeds. It was `(seed * 0x9e3779b1 + ordinal) >>> 0` in floating point:
 * the same state for seeds up to 3,393,263 (where that sum was exact), but past it the product
 * rounded to a multiple of 2 or more, so consecutive requests shared a stream (seed 100,000,000:
 * requests 1 to 4 alike), and seeds 2^32 apart shared every stream.
 */
function engineRequestState(seed: number, ordinal: number): number {
  return (Math.imul(mixSeed(seed, 0), 0x9e3779b1) + ordinal) >>> 0;
}

/** One simulated vLLM engine: continuous batching over a prefix-cached KV block pool. */
export class SimEngine implements Engine {
  readonly blockSize: number;
  readonly numGpuBlocks: number;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly maxModelLen: number;
  readonly enablePrefixCaching: boolean;
  readonly modelName: string;
  readonly profile: LatencyProfile;
  private latency: LatencyModel;
  private readonly clock: Clock;
  private readonly pool: BlockPool;
  private readonly waiting = new Deque<Seq>();
  private running: Seq[] = [];
  private readonly byId = new Map<string, Seq>();
  private readonly hashSeed: string;
  private readonly seed: number;
  private submitted = 0;
  private stepPending: unknown = null;
  private stepInFlight: { seqs: Seq[]; counts: number[] } | null = null;
  private readonly kvListeners = new Set<(b: KvEventBatch) => void>();
  private readonly wallClock: boolean;
  private counters = {
    prefixCacheQueries: 0,
    prefixCacheHits: 0,
    preemptions: 0,
    promptTokens: 0,
    generationTokens: 0,
    promptTokensCached: 0,
    promptTokensRecomputed: 0,
    promptTokensLocalCompute: 0,
    promptTokensLocalCacheHit: 0,
    promptTokensExternal: 0,
    externalPrefixCacheQueries: 0,
    externalPrefixCacheHits: 0,
  };
  private readonly iterationListeners = new Set<(s: IterationStats) => void>();
  private readonly noise: () => number;
  readonly maxLoras: number | undefined;
  /** Requests (waiting or running) that use a LoRA adapter; LoRA bookkeeping is skipped while 0. */
  private loraSeqs = 0;
  /** Transfers of remote-prefill KV in flight. */
  private loadingSeqs = 0;
  /** Set while asleep (vLLM sleep mode): the prefix cache neither hits nor stores. */
  private cachingSuspended = false;
  private sleepLevel = 0;
  /** Total steps run (for tests and the virtual-time simulator). */
  steps = 0;

  constructor(opts: EngineOptions) {
    this.profile = opts.profile;
    this.latency = { ...opts.profile.latency };
    this.clock = opts.clock;
    this.seed = opts.seed ?? 0;
    this.blockSize = opts.blockSize ?? opts.profile.engine.blockSize;
    this.numGpuBlocks = opts.kvCacheSize ?? opts.profile.engine.numGpuBlocks;
    this.maxNumSeqs = opts.maxNumSeqs ?? opts.profile.engine.maxNumSeqs;
    this.maxNumBatchedTokens = opts.maxNumBatchedTokens ?? opts.profile.engine.maxNumBatchedTokens;
    this.maxModelLen = opts.maxModelLen ?? opts.profile.engine.maxModelLen;
    this.enablePrefixCaching = opts.enablePrefixCaching ?? true;
    this.modelName = opts.modelName ?? opts.profile.model;
    this.hashSeed = opts.hashSeed ?? this.modelName;
    this.wallClock = opts.clock instanceof RealClock;
    this.noise = createRng(mixSeed(this.seed, 0x6a09e667));
    this.maxLoras = opts.maxLoras;
    if (this.maxLoras !== undefined && (!Number.isInteger(this.maxLoras) || this.maxLoras < 1)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `maxLoras must be a positive integer (got ${this.maxLoras})`, { param: 'maxLoras' });
    }
    for (const [k, v] of Object.entries({ blockSize: this.blockSize, kvCacheSize: this.numGpuBlocks, maxNumSeqs: this.maxNumSeqs, maxNumBatchedTokens: this.maxNumBatchedTokens })) {
      if (!Number.isInteger(v) || v <= 0) throw new KvgateError(ErrorCode.InvalidConfig, `${k} must be a positive integer (got ${v})`, { param: k });
    }
    // Checked before the pool is built: its tables are allocated up front (limits.ts).
    if (this.numGpuBlocks > MAX_KV_BLOCKS) throw new KvgateError(ErrorCode.InvalidConfig, `kvCacheSize must be at most ${describeBlockLimit(MAX_KV_BLOCKS)} (got ${this.numGpuBlocks})`, { param: 'kvCacheSize' });
    this.pool = new BlockPool(this.numGpuBlocks, opts.kvEvents ?? true);
  }

  submit(req: EngineRequest, listener: RequestListener): void {
    if (this.byId.has(req.id)) throw new KvgateError(ErrorCode.InvalidRequest, `duplicate request id ${req.id}`);
    const promptLen = req.promptTokenIds.length;
    if (promptLen === 0) throw new KvgateError(ErrorCode.InvalidRequest, 'prompt must contain at least one token', { param: 'prompt' });
    let target = Math.max(1, Math.floor(req.maxTokens));
    let targetReason: FinishReason = 'length';
    if (req.outputTokenIds && req.outputTokenIds.length < target && !req.ignoreEos) {
      target = Math.max(1, req.outputTokenIds.length);
      targetReason = 'stop';
    }
    if (promptLen + target > this.numGpuBlocks * this.blockSize) {
      throw new KvgateError(
        ErrorCode.ContextLengthExceeded,
        `request needs ${promptLen + target} tokens of KV cache but the engine holds only ${this.numGpuBlocks * this.blockSize}`,
        { param: 'max_tokens' },
      );
    }
    const ordinal = ++this.submitted;
    const seq: Seq = {
      req,
      listener,
      tokens: req.promptTokenIds.slice(),
      promptLen,
      target,
      targetReason,
      numComputed: 0,
      blocks: [],
      registered: 0,
      hashHi: [],
      hashLo: [],
      root: rootHash({ seed: this.hashSeed, loraName: req.loraName, cacheSalt: req.cacheSalt }),
      generated: 0,
      cachedTokens: 0,
      scheduledOnce: false,
      isRunning: false,
      preemptions: 0,
      timings: { arrivalMs: this.clock.now() },
      // A request's own seed fixes its tokens whatever else runs (vLLM's per-request seed);
      // otherwise the stream depends on the engine seed and submission order.
      rng: createRng(req.seed !== undefined ? requestSeedState(req.seed) : engineRequestState(this.seed, ordinal)),
      done: false,
      lora: req.loraName ?? null,
      external: 0,
      loading: false,
      pulled: false,
    };
    if (seq.lora !== null) this.loraSeqs++;
    this.byId.set(req.id, seq);
    this.waiting.push(seq);
    this.kick();
  }

  abort(id: string): void {
    const seq = this.byId.get(id);
    if (!seq || seq.done) return;
    if (this.waiting.remove((s) => s === seq) === undefined) {
      const i = this.running.indexOf(seq);
      if (i >= 0) this.running.splice(i, 1);
    }
    this.finish(seq, 'abort');
  }

  /** Current step-latency model (runtime reconfiguration through the simulator's /admin/config). */
  get latencyModel(): LatencyModel {
    return { ...this.latency };
  }

  setLatency(patch: Partial<LatencyModel>): void {
    this.latency = { ...this.latency, ...patch };
  }

  stats(): EngineStats {
    return {
      running: this.running.length,
      // Requests pulling remote KV wait as vLLM's WAITING_FOR_REMOTE_KVS requests do.
      waiting: this.waiting.length + this.loadingSeqs,
      kvCacheUsage: this.pool.usage,
      numGpuBlocks: this.numGpuBlocks,
      blockSize: this.blockSize,
      ...this.counters,
      sleepLevel: this.sleepLevel,
    };
  }

  /** Running and waiting requests per LoRA adapter (vllm:lora_requests_info); O(requests), for scrapes. */
  loraStats(): LoraStats {
    const running = new Map<string, number>();
    const waiting = new Map<string, number>();
    if (this.loraSeqs === 0) return { running, waiting };
    for (const s of this.running) if (s.lora !== null) running.set(s.lora, (running.get(s.lora) ?? 0) + 1);
    for (const s of this.byId.values()) {
      if (s.lora !== null && !s.isRunning) waiting.set(s.lora, (waiting.get(s.lora) ?? 0) + 1);
    }
    return { running, waiting };
  }

  /** Subscribes to per-step token counts (only steps that produced tokens); returns an unsubscribe function. */
  onIteration(listener: (s: IterationStats) => void): () => void {
    this.iterationListeners.add(listener);
    return () => this.iterationListeners.delete(listener);
  }

  /**
   * Prompt tokens of `promptTokenIds` the prefix cache would serve right now (whole blocks,
   * capped at n−1), without touching the cache: what llm-d-inference-sim's cache_hit_threshold
   * compares against.
   */
  cachedPrefixTokens(promptTokenIds: number[], ctx: { loraName?: string; cacheSalt?: string } = {}): number {
    if (!this.enablePrefixCaching || this.cachingSuspended || promptTokenIds.length < 2) return 0;
    const maxBlocks = Math.floor((promptTokenIds.length - 1) / this.blockSize);
    let [hi, lo] = rootHash({ seed: this.hashSeed, loraName: ctx.loraName, cacheSalt: ctx.cacheSalt });
    let hits = 0;
    for (let i = 0; i < maxBlocks; i++) {
      [hi, lo] = hashBlock(promptTokenIds, i * this.blockSize, this.blockSize, hi, lo);
      if (this.pool.lookup(hashKey(hi, lo)) === undefined) break;
      hits++;
    }
    return hits * this.blockSize;
  }

  /**
   * vLLM sleep mode: the KV cache is discarded (AllBlocksCleared) and stays off until a wake-up
   * that restores it. Level 1 offloads weights, level 2 discards them (vllm:engine_sleep_state).
   */
  sleep(level: 1 | 2): void {
    this.sleepLevel = level;
    this.resetPrefixCache();
    this.cachingSuspended = true;
  }

  /** Ends sleep; `kvCache` re-enables the prefix cache (llm-d-inference-sim's `tags=kv_cache`, or no tags). */
  wakeUp(kvCache: boolean): void {
    this.sleepLevel = 0;
    if (kvCache) this.cachingSuspended = false;
  }

  get isSleeping(): boolean {
    return this.sleepLevel > 0;
  }

  onKvEvents(listener: (batch: KvEventBatch) => void): () => void {
    this.kvListeners.add(listener);
    return () => this.kvListeners.delete(listener);
  }

  resetPrefixCache(): void {
    this.pool.reset();
    for (const s of this.running) s.registered = s.blocks.length; // their blocks are no longer shareable
    this.publishEvents();
  }

  private kick(): void {
    if (this.stepPending !== null || this.stepInFlight !== null) return;
    this.stepPending = this.clock.setTimer(() => {
      this.stepPending = null;
      this.startStep();
    }, 0);
  }

  /** Chooses this step's batch (running first, then waiting, FCFS) and schedules its completion. */
  private startStep(): void {
    const B = this.blockSize;
    let budget = this.maxNumBatchedTokens;
    const seqs: Seq[] = [];
    const counts: number[] = [];
    let prefillTokens = 0;
    let decodeSeqs = 0;
    let contextTokens = 0;

    for (let i = 0; i < this.running.length && budget > 0; i++) {
      const seq = this.running[i];
      const n = Math.min(seq.tokens.length - seq.numComputed, budget);
      if (!this.ensureBlocks(seq, seq.numComputed + n)) {
        i--; // seq itself was preempted: the list shifted under us
        continue;
      }
      seqs.push(seq);
      counts.push(n);
      budget -= n;
      if (seq.numComputed < seq.promptLen) prefillTokens += n;
      else decodeSeqs++;
      contextTokens += seq.numComputed;
    }

    // vLLM V1 keeps the LoRA ids of the batch and skips (without dequeuing for good) a waiting
    // request whose adapter would make more than max_loras distinct adapters.
    const loraGate = this.maxLoras !== undefined && this.loraSeqs > 0;
    const activeLoras = loraGate ? new Set<string>() : undefined;
    if (activeLoras) for (const s of this.running) if (s.lora !== null) activeLoras.add(s.lora);
    let skipped: Seq[] | undefined;

    while (budget > 0 && this.running.length < this.maxNumSeqs && this.waiting.length > 0) {
      const seq = this.waiting.peek()!;
      if (activeLoras && seq.lora !== null && !activeLoras.has(seq.lora) && activeLoras.size >= this.maxLoras!) {
        (skipped ??= []).push(this.waiting.shift()!);
        continue;
      }
      if (seq.req.remotePrefill && !seq.pulled) {
        if (!this.startRemotePull(seq)) break;
        continue;
      }
      let n: number;
      if (seq.blocks.length > 0) {
        // KV pulled from a remote prefill: the blocks are held, only the last prompt token is left.
        n = Math.min(seq.tokens.length - seq.numComputed, budget);
        if (Math.ceil((seq.numComputed + n) / B) > seq.blocks.length + this.pool.numFree) break;
        this.waiting.shift();
        for (let k = Math.ceil((seq.numComputed + n) / B) - seq.blocks.length; k > 0; k--) seq.blocks.push(this.pool.allocate());
        contextTokens += seq.numComputed;
      } else {
        const hitBlocks = this.lookupPrefix(seq);
        for (const b of hitBlocks) this.pool.acquire(b);
        const hitTokens = hitBlocks.length * B;
        n = Math.min(seq.tokens.length - hitTokens, budget);
        const needed = Math.ceil((hitTokens + n) / B) - hitBlocks.length;
        if (needed > this.pool.numFree) {
          this.pool.free(hitBlocks);
          break;
        }
        this.waiting.shift();
        seq.blocks = hitBlocks;
        seq.registered = hitBlocks.length;
        seq.numComputed = hitTokens;
        for (let k = 0; k < needed; k++) seq.blocks.push(this.pool.allocate());
        this.counters.prefixCacheQueries += seq.tokens.length;
        this.counters.prefixCacheHits += hitTokens;
        if (!seq.scheduledOnce) seq.cachedTokens = hitTokens;
        contextTokens += hitTokens;
      }
      if (!seq.scheduledOnce) {
        seq.scheduledOnce = true;
        seq.timings.scheduledMs = this.clock.now();
      }
      if (activeLoras && seq.lora !== null) activeLoras.add(seq.lora);
      this.running.push(seq);
      seq.isRunning = true;
      seqs.push(seq);
      counts.push(n);
      budget -= n;
      prefillTokens += n;
    }
    if (skipped) for (let k = skipped.length - 1; k >= 0; k--) this.waiting.unshift(skipped[k]);

    if (seqs.length === 0) return;
    this.steps++;
    this.stepInFlight = { seqs, counts };
    this.clock.setTimer(() => this.finishStep(), this.stepMs(prefillTokens, decodeSeqs, contextTokens));
  }

  /**
   * The step's duration: the profile's step model, each part jittered by its standard deviation
   * and scaled by the load factor (llm-d-inference-sim's std-dev and time-factor-under-load rules).
   */
  private stepMs(prefillTokens: number, decodeSeqs: number, contextTokens: number): number {
    const m = this.latency;
    if (m.prefillStdDevMs === 0 && m.decodeStdDevMs === 0 && m.timeFactorUnderLoad <= 1) {
      return stepDurationMs(m, prefillTokens, decodeSeqs, contextTokens);
    }
    let prefill = prefillTokens > 0 ? m.prefillOverheadMs + prefillTokens * m.prefillMsPerToken : 0;
    let decode = m.stepBaseMs + decodeSeqs * m.decodeMsPerSeq + contextTokens * m.contextMsPerToken;
    if (m.prefillStdDevMs > 0 && prefill > 0) prefill = gaussianClamped(this.noise, prefill, m.prefillStdDevMs);
    if (m.decodeStdDevMs > 0 && decode > 0) decode = gaussianClamped(this.noise, decode, m.decodeStdDevMs);
    return (prefill + decode) * loadFactor(m.timeFactorUnderLoad, this.running.length, this.maxNumSeqs);
  }

  /**
   * Starts pulling a remote prefill's KV: blocks for the whole prompt are taken now (local prefix
   * hits first, as vLLM's connector asks only for the rest); the request waits off-batch until the
   * transfer ends. False when the blocks are not there yet.
   */
  private startRemotePull(seq: Seq): boolean {
    const B = this.blockSize;
    const hitBlocks = this.lookupPrefix(seq);
    for (const b of hitBlocks) this.pool.acquire(b);
    const needed = Math.ceil(seq.promptLen / B) - hitBlocks.length;
    if (needed > this.pool.numFree) {
      this.pool.free(hitBlocks);
      return false;
    }
    this.waiting.shift();
    seq.blocks = hitBlocks;
    seq.registered = hitBlocks.length;
    seq.numComputed = hitBlocks.length * B;
    for (let k = 0; k < needed; k++) seq.blocks.push(this.pool.allocate());
    this.counters.prefixCacheQueries += seq.tokens.length;
    this.counters.prefixCacheHits += seq.numComputed;
    this.counters.externalPrefixCacheQueries += seq.promptLen - seq.numComputed;
    seq.loading = true;
    seq.pulled = true;
    this.loadingSeqs++;
    this.clock.setTimer(() => this.finishRemotePull(seq), Math.max(0, seq.req.remotePrefill!.transferMs));
    return true;
  }

  /** The pulled KV is in place: all but the last prompt token count as computed (vLLM recomputes that one). */
  private finishRemotePull(seq: Seq): void {
    if (!seq.loading) return; // aborted meanwhile
    seq.loading = false;
    this.loadingSeqs--;
    const loaded = Math.max(seq.numComputed, seq.promptLen - 1);
    seq.external = loaded - seq.numComputed;
    seq.numComputed = loaded;
    seq.cachedTokens = loaded;
    this.counters.externalPrefixCacheHits += seq.external;
    if (this.enablePrefixCaching) this.registerFullBlocks(seq);
    this.waiting.unshift(seq);
    this.publishEvents();
    this.kick();
  }

  /** Applies a step's results: KV computed, blocks registered, tokens sampled, requests finished. */
  private finishStep(): void {
    const { seqs, counts } = this.stepInFlight!;
    this.stepInFlight = null;
    const now = this.clock.now();
    let finished = 0;
    let iterPrompt = 0;
    let iterGenerated = 0;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i];
      if (!seq.isRunning) continue; // aborted or preempted meanwhile
      seq.numComputed += counts[i];
      if (this.enablePrefixCaching) this.registerFullBlocks(seq);
      if (seq.numComputed < seq.tokens.length) continue; // still prefilling (chunked)
      const tokenId = seq.req.outputTokenIds?.[seq.generated] ?? Math.floor(seq.rng() * SAMPLED_VOCAB);
      seq.tokens.push(tokenId);
      seq.generated++;
      iterGenerated++;
      this.counters.generationTokens++;
      if (seq.generated === 1) {
        seq.timings.firstTokenMs = now;
        iterPrompt += seq.promptLen;
        this.countPromptSources(seq);
      }
      const last = seq.generated >= seq.target;
      const stopped = seq.listener.onToken(tokenId, seq.generated - 1, now, last ? seq.targetReason : undefined) === 'stop';
      if (last || stopped) {
        finished++;
        this.finish(seq, stopped ? 'stop' : seq.targetReason);
      }
    }
    if (finished > 0) this.running = this.running.filter((s) => s.isRunning);
    if (iterGenerated > 0 && this.iterationListeners.size > 0) {
      const it: IterationStats = { promptTokens: iterPrompt, generationTokens: iterGenerated };
      for (const l of this.iterationListeners) l(it);
    }
    this.publishEvents();
    if (this.running.length > 0 || this.waiting.length > 0) this.startStep();
  }

  /** vLLM's PromptTokenStats at a request's first token: computed, cache-hit, pulled, recomputed. */
  private countPromptSources(seq: Seq): void {
    const c = this.counters;
    const cached = seq.cachedTokens;
    const recomputed = cached + 1 === seq.promptLen ? 1 : 0;
    c.promptTokens += seq.promptLen;
    c.promptTokensCached += cached;
    c.promptTokensRecomputed += recomputed;
    c.promptTokensLocalCompute += seq.promptLen - cached;
    c.promptTokensLocalCacheHit += cached + recomputed - seq.external;
    c.promptTokensExternal += seq.external;
  }

  /** Leading full blocks of the prompt (and prior output) already cached; at most n−1 tokens. */
  private lookupPrefix(seq: Seq): number[] {
    if (!this.enablePrefixCaching || this.cachingSuspended || seq.req.skipPrefixCache) return [];
    const maxBlocks = Math.floor((seq.tokens.length - 1) / this.blockSize);
    const hits: number[] = [];
    for (let i = 0; i < maxBlocks; i++) {
      this.ensureHash(seq, i);
      const b = this.pool.lookup(hashKey(seq.hashHi[i], seq.hashLo[i]));
      if (b === undefined) break;
      hits.push(b);
    }
    return hits;
  }

  private ensureHash(seq: Seq, i: number): void {
    while (seq.hashHi.length <= i) {
      const k = seq.hashHi.length;
      const [phi, plo] = k === 0 ? seq.root : [seq.hashHi[k - 1], seq.hashLo[k - 1]];
      const [hi, lo] = hashBlock(seq.tokens, k * this.blockSize, this.blockSize, phi, plo);
      seq.hashHi.push(hi);
      seq.hashLo.push(lo);
    }
  }

  private registerFullBlocks(seq: Seq): void {
    if (this.cachingSuspended) return;
    const B = this.blockSize;
    while ((seq.registered + 1) * B <= seq.numComputed && seq.registered < seq.blocks.length) {
      const i = seq.registered;
      this.ensureHash(seq, i);
      const parent: [number, number] | null = i === 0 ? null : [seq.hashHi[i - 1], seq.hashLo[i - 1]];
      this.pool.register(
        seq.blocks[i],
        hashKey(seq.hashHi[i], seq.hashLo[i]),
        seq.hashHi[i],
        seq.hashLo[i],
        parent,
        seq.tokens.slice(i * B, (i + 1) * B),
        B,
        seq.req.loraName ?? null,
        seq.req.loraId ?? null,
      );
      seq.registered++;
    }
  }

  /**
   * Makes sure `seq` has blocks for `tokens` tokens, preempting the most recently scheduled
   * running requests (recompute) when the pool runs dry. Returns false if seq itself was preempted.
   */
  private ensureBlocks(seq: Seq, tokens: number): boolean {
    const need = Math.ceil(tokens / this.blockSize) - seq.blocks.length;
    for (let k = 0; k < need; k++) {
      while (this.pool.numFree === 0) {
        const victim = this.running[this.running.length - 1];
        this.preempt(victim);
        if (victim === seq) return false;
      }
      seq.blocks.push(this.pool.allocate());
    }
    return true;
  }

  private preempt(seq: Seq): void {
    this.running.pop();
    seq.isRunning = false;
    this.pool.free(seq.blocks);
    seq.blocks = [];
    seq.registered = 0;
    seq.numComputed = 0;
    seq.preemptions++;
    this.counters.preemptions++;
    this.waiting.unshift(seq);
  }

  private finish(seq: Seq, reason: FinishReason): void {
    seq.done = true;
    seq.isRunning = false;
    if (seq.loading) {
      seq.loading = false;
      this.loadingSeqs--;
    }
    if (seq.lora !== null) this.loraSeqs--;
    const blockIds = seq.req.keepBlockIds ? seq.blocks.slice() : undefined;
    if (seq.blocks.length) this.pool.free(seq.blocks);
    seq.blocks = [];
    this.byId.delete(seq.req.id);
    seq.timings.finishedMs = this.clock.now();
    const outcome: RequestOutcome = {
      finishReason: reason,
      promptTokens: seq.promptLen,
      cachedTokens: seq.cachedTokens,
      externalTokens: seq.external,
      completionTokens: seq.generated,
      preemptions: seq.preemptions,
      timings: seq.timings,
      blockIds,
    };
    seq.listener.onFinish(outcome);
  }

  private publishEvents(): void {
    const events = this.pool.drainEvents();
    if (events.length === 0 || this.kvListeners.size === 0) return;
    const batch: KvEventBatch = { ts: (this.wallClock ? Date.now() : this.clock.now()) / 1000, events };
    for (const l of this.kvListeners) l(batch);
  }
}

export function createEngine(opts: EngineOptions): SimEngine {
  return new SimEngine(opts);
}
