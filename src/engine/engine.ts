import type {
  Clock,
  Engine,
  EngineRequest,
  EngineStats,
  FinishReason,
  KvEventBatch,
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
import { stepDurationMs, type LatencyModel, type LatencyProfile } from './profiles.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';

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
  private counters = { prefixCacheQueries: 0, prefixCacheHits: 0, preemptions: 0, promptTokens: 0, generationTokens: 0 };
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
    this.pool = new BlockPool(this.numGpuBlocks, opts.kvEvents ?? true);
    this.wallClock = opts.clock instanceof RealClock;
    for (const [k, v] of Object.entries({ blockSize: this.blockSize, kvCacheSize: this.numGpuBlocks, maxNumSeqs: this.maxNumSeqs, maxNumBatchedTokens: this.maxNumBatchedTokens })) {
      if (!Number.isInteger(v) || v <= 0) throw new KvgateError(ErrorCode.InvalidConfig, `${k} must be a positive integer (got ${v})`, { param: k });
    }
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
      rng: createRng((this.seed * 0x9e3779b1 + ++this.submitted) >>> 0),
      done: false,
    };
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
      waiting: this.waiting.length,
      kvCacheUsage: this.pool.usage,
      numGpuBlocks: this.numGpuBlocks,
      blockSize: this.blockSize,
      ...this.counters,
    };
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

    while (budget > 0 && this.running.length < this.maxNumSeqs && this.waiting.length > 0) {
      const seq = this.waiting.peek()!;
      const hitBlocks = this.lookupPrefix(seq);
      for (const b of hitBlocks) this.pool.acquire(b);
      const hitTokens = hitBlocks.length * B;
      const n = Math.min(seq.tokens.length - hitTokens, budget);
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
      if (!seq.scheduledOnce) {
        seq.scheduledOnce = true;
        seq.cachedTokens = hitTokens;
        seq.timings.scheduledMs = this.clock.now();
      }
      this.running.push(seq);
      seq.isRunning = true;
      seqs.push(seq);
      counts.push(n);
      budget -= n;
      prefillTokens += n;
      contextTokens += hitTokens;
    }

    if (seqs.length === 0) return;
    this.steps++;
    this.stepInFlight = { seqs, counts };
    const ms = stepDurationMs(this.latency, prefillTokens, decodeSeqs, contextTokens);
    this.clock.setTimer(() => this.finishStep(), ms);
  }

  /** Applies a step's results: KV computed, blocks registered, tokens sampled, requests finished. */
  private finishStep(): void {
    const { seqs, counts } = this.stepInFlight!;
    this.stepInFlight = null;
    const now = this.clock.now();
    let finished = 0;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i];
      if (!seq.isRunning) continue; // aborted or preempted meanwhile
      seq.numComputed += counts[i];
      if (this.enablePrefixCaching) this.registerFullBlocks(seq);
      if (seq.numComputed < seq.tokens.length) continue; // still prefilling (chunked)
      const tokenId = seq.req.outputTokenIds?.[seq.generated] ?? Math.floor(seq.rng() * SAMPLED_VOCAB);
      seq.tokens.push(tokenId);
      seq.generated++;
      this.counters.generationTokens++;
      if (seq.generated === 1) {
        seq.timings.firstTokenMs = now;
        this.counters.promptTokens += seq.promptLen;
      }
      seq.listener.onToken(tokenId, seq.generated - 1, now);
      if (seq.generated >= seq.target) {
        finished++;
        this.finish(seq, seq.targetReason);
      }
    }
    if (finished > 0) this.running = this.running.filter((s) => s.isRunning);
    this.publishEvents();
    if (this.running.length > 0 || this.waiting.length > 0) this.startStep();
  }

  /** Leading full blocks of the prompt (and prior output) already cached; at most n−1 tokens. */
  private lookupPrefix(seq: Seq): number[] {
    if (!this.enablePrefixCaching) return [];
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
    if (seq.blocks.length) this.pool.free(seq.blocks);
    seq.blocks = [];
    this.byId.delete(seq.req.id);
    seq.timings.finishedMs = this.clock.now();
    const outcome: RequestOutcome = {
      finishReason: reason,
      promptTokens: seq.promptLen,
      cachedTokens: seq.cachedTokens,
      completionTokens: seq.generated,
      preemptions: seq.preemptions,
      timings: seq.timings,
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
