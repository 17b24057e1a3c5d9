import type { DatastoreListener, EndpointMetrics, EndpointState, PrefixSource, RouteRequest } from '../../api.js';
import type { CycleContext, DataProducer, PluginDefinition, PluginEnv } from '../types.js';
import type { ApproxPrefixIndex, PrefixHashes } from '../../prefix/approx-prefix-index.js';
import { ApproxPrefixParams, approxAutoTune, approxIndexFor } from './approx-prefix-cache-producer.js';
import { UnconfirmedBlocks } from '../../prefix/unconfirmed-blocks.js';
import { PrecisePrefixParams, reviewPrecisePrefixParams, tierWeights } from './precise-prefix-params.js';
import { EXACT_INDEX_MODEL, exactStateKnown, type KvEventsView, type PromptTokenizer } from '../../prefix/kv-events-view.js';
import type { TierWeights } from '../../prefix/exact-prefix-index.js';
import { SpeculativeBlocks } from '../../prefix/speculative-blocks.js';

/** A pick that must make the engine store new blocks, and how many batches its stream had then. */
interface Awaiting {
  atMs: number;
  batches: number;
}

/**
 * Fills `ctx.prefix` from the engines' own KV events (llm-d's precise-prefix-cache-producer):
 * the request's token ids are looked up in the exact index (`prefix/exact-prefix-index.ts`,
 * fed by the pool's KV-event intake), per endpoint, on every medium with its tier weight.
 *
 * Per endpoint, automatically, the exact match is used only where that endpoint's event stream is
 * live (`exactStateKnown`); elsewhere — no stream, never started, replaying a gap, stale after lost batches, or silent
 * for `silentStreamMs` after a pick that must have stored new blocks — the match comes from the
 * approximate index, which this producer keeps up to date from its own picks for exactly that.
 * `ctx.prefix.source` says which, per endpoint (metrics, `--debug-scores`).
 *
 * In flight: a pick of an endpoint with an exact view records the request's blocks there until
 * the engine's events catch up (llm-d's speculative indexing, prefix/speculative-blocks.ts), so a
 * second request with the same prefix arriving meanwhile follows the first instead of computing
 * it elsewhere; an exact endpoint's match is the longer of its stored and in-flight chains.
 *
 * Units: blocks of the engines' block size (`blockTokens`, from their events). `totalBlocks` is
 * capped at ⌊(n−1)/blockSize⌋ for an n-token prompt, as vLLM never serves the last prompt token
 * from the cache (reference §7.6), so a full match reads 1. An approximate match (blocks of
 * characters) is converted through the request's own tokens-per-character ratio.
 *
 * Deterministic given the events: two routers fed by the same engines compute the same exact
 * matches (the approximate fallback, by nature, depends on each router's own picks).
 */
export class PrecisePrefixCacheProducer implements DataProducer, DatastoreListener {
  readonly kind = 'producer';
  readonly produces = 'prefix';
  /** Needs `request.promptTokenIds` (the lifecycle tokenizes once when this is set). */
  readonly wantsTokenIds = true;
  /**
   * The approximate fallback: GIE's index, by default with its defaults (64-character blocks, 256
   * at most, sized from each endpoint's num_gpu_blocks), else as a configured
   * approx-prefix-cache-producer says (the kvgate preset's looks 2,048 blocks deep).
   */
  private readonly approx: ApproxPrefixIndex;
  private readonly approxAutoTune: boolean;
  private hashes?: PrefixHashes;
  /** This cycle's approximate matches (fallback blocks), when some candidate needed them. */
  private approxMatched?: Map<string, number>;
  /** Fallback blocks recorded at picks, taken back for requests that end without a first token. */
  private readonly unconfirmed: UnconfirmedBlocks;
  private readonly weights: TierWeights;
  private readonly awaiting = new Map<string, Awaiting>();
  private readonly silentMs: number;
  private liveScratch: boolean[] = [];
  private batchesScratch: number[] = [];
  /** In-flight picks' blocks (llm-d's speculative indexing); undefined when turned off. */
  readonly speculative?: SpeculativeBlocks;
  /** The current request's block keys, per block size (computed at most once per request). */
  private keys?: { requestId: string; ids: ArrayLike<number>; lora: string | null; salt: string | undefined; blockSize: number; hi: Uint32Array; lo: Uint32Array; count: number };

  constructor(
    p: PrecisePrefixParams,
    private readonly view: KvEventsView | undefined,
    private readonly tokenizer: PromptTokenizer | undefined,
    fallback: ApproxPrefixParams = ApproxPrefixParams.parse({}),
  ) {
    this.approx = approxIndexFor(fallback);
    this.approxAutoTune = approxAutoTune(fallback);
    this.unconfirmed = new UnconfirmedBlocks(this.approx);
    this.weights = tierWeights(p);
    this.silentMs = p.silentStreamMs;
    if (speculativeIndexing(p)) this.speculative = new SpeculativeBlocks(durationMs(p.speculativeTTL) ?? 2000);
  }

  /** Whether an exact match can be used for the endpoint now (see the class comment). */
  isLive(endpointId: string, nowMs: number): boolean {
    const st = this.view?.status(endpointId);
    if (!exactStateKnown(st)) return false;
    const w = this.awaiting.get(endpointId);
    if (!w) return true;
    if (st!.batches > w.batches) {
      this.awaiting.delete(endpointId);
      return true;
    }
    return nowMs - w.atMs <= this.silentMs;
  }

  prepare(ctx: CycleContext, candidates: EndpointState[]): void {
    const req = ctx.request;
    // Always hashed (cheap: at most maxPrefixBlocksToMatch blocks, 256 by default), so the pick can be recorded for the fallback;
    // matched only when some candidate needs it.
    const hashes = (this.hashes = this.approx.hash(req.model, req.cacheSalt, req.prefixText));
    const approxBlockTokens = this.approx.blockChars / 4;
    const source = new Map<string, PrefixSource>();
    const view = this.view;
    let blockTokens = 0;
    let live = 0;
    const isLive = this.liveScratch.length >= candidates.length ? this.liveScratch : (this.liveScratch = new Array<boolean>(candidates.length * 2));
    const batches = this.batchesScratch.length >= candidates.length ? this.batchesScratch : (this.batchesScratch = new Array<number>(candidates.length * 2));
    for (let i = 0; i < candidates.length; i++) {
      isLive[i] = view !== undefined && this.isLive(candidates[i].info.id, ctx.nowMs);
      if (!isLive[i]) continue;
      batches[i] = view!.status(candidates[i].info.id)!.batches;
      live++;
      blockTokens ||= view!.index.blockSize(candidates[i].info.id);
    }
    // Token ids only when some candidate can be matched exactly (tokenizing is the costly part).
    const ids = live > 0 ? this.tokenIds(req) : undefined;
    if (!ids) live = 0;
    const approxMatched = (this.approxMatched = live < candidates.length ? this.approx.match(hashes) : undefined);
    if (!view || !ids || live === 0) {
      for (const c of candidates) source.set(c.info.id, 'approx');
      ctx.prefix = { totalBlocks: hashes.count, blockTokens: approxBlockTokens, matched: approxMatched!, source };
      return;
    }
    // A live endpoint that has not stored a block yet has no size: count in the approximate one's.
    blockTokens ||= approxBlockTokens;
    const n = ids.length;
    const totalBlocks = Math.max(0, Math.floor((n - 1) / blockTokens));
    const lora = loraOf(req, candidates);
    // One block size in the pool (the usual case): hash the request once, for the index and the in-flight entries.
    const exact =
      view.index.blockSizesInUse <= 1
        ? view.index.matchKeys(this.keysOf(req, lora, ids, blockTokens), blockTokens, this.weights)
        : view.index.matchWeighted(EXACT_INDEX_MODEL, lora, ids, req.cacheSalt ?? null, this.weights);
    const spec = this.speculative;
    const tokensPerApproxBlock = (this.approx.blockChars * n) / Math.max(1, req.prefixText.length);
    const matched = new Map<string, number>();
    for (let i = 0; i < candidates.length; i++) {
      const id = candidates[i].info.id;
      let blocks: number;
      if (isLive[i]) {
        source.set(id, 'exact');
        let m = exact.get(id) ?? 0;
        const bs = view.index.blockSize(id) || spec?.blockSize(id) || blockTokens;
        if (spec?.has(id)) {
          const k = this.keysOf(req, lora, ids, bs);
          m = Math.max(m, spec.match(id, k.hi, k.lo, k.count, batches[i], ctx.nowMs));
        }
        blocks = bs === blockTokens ? Math.min(m, totalBlocks) : (Math.min(m, Math.floor((n - 1) / bs)) * bs) / blockTokens;
      } else {
        source.set(id, 'approx');
        blocks = Math.min(totalBlocks, Math.floor(((approxMatched!.get(id) ?? 0) * tokensPerApproxBlock) / blockTokens));
      }
      if (blocks > 0) matched.set(id, blocks);
    }
    ctx.prefix = { totalBlocks, blockTokens, matched, source };
  }

  onPicked(ctx: CycleContext, endpoint: EndpointState): void {
    const pm = ctx.prefix;
    const id = endpoint.info.id;
    const st = this.view?.status(id);
    const ids = ctx.request.promptTokenIds;
    if (!pm || pm.source?.get(id) !== 'exact' || !st || !ids) {
      // The fallback learns from the picks it decided; an endpoint with a live stream has what its
      // engine said (and recording there would walk every endpoint holding a shared prefix, per pick).
      // Unknown match (no approximate lookup this cycle): remember nothing rather than risk taking back blocks it held.
      if (this.hashes) this.unconfirmed.add(ctx.request.id, id, this.hashes, this.approxMatched ? (this.approxMatched.get(id) ?? 0) : this.hashes.count);
      return;
    }
    if (this.speculative) {
      const bs = this.view!.index.blockSize(id) || pm.blockTokens;
      const req = ctx.request;
      this.speculative.add(req.id, id, this.keysOf(req, loraOf(req, [endpoint]), ids, bs), bs, st.batches, ctx.nowMs);
    }
    // Blocks past the match will be stored: a batch must follow.
    if (!this.awaiting.has(id) && (pm.matched.get(id) ?? 0) < pm.totalBlocks) this.awaiting.set(id, { atMs: ctx.nowMs, batches: st.batches });
  }

  onFirstToken(requestId: string, endpointId: string, nowMs: number): void {
    this.speculative?.firstToken(requestId, endpointId, nowMs);
    this.unconfirmed.firstToken(requestId, endpointId);
  }

  onComplete(requestId: string): void {
    this.speculative?.complete(requestId);
    this.unconfirmed.complete(requestId);
  }

  endpointRemoved(id: string): void {
    this.unconfirmed.forget(id);
    this.awaiting.delete(id);
    this.speculative?.forget(id);
    this.approx.removeEndpoint(id);
  }

  /** Sizes the fallback's LRU per endpoint from vllm:cache_config_info (GIE's autoTune). */
  metricsUpdated(id: string, m: EndpointMetrics): void {
    if (this.approxAutoTune && m.numGpuBlocks) this.approx.setCapacity(id, m.numGpuBlocks);
  }

  /** Entries of the approximate fallback index (the exact index is the pool's). */
  get entries(): number {
    return this.approx.entries;
  }

  /** The request's block keys in `blockSize` blocks, hashed once per request (the same token-id array, the same LoRA). */
  private keysOf(req: RouteRequest, lora: string | null, ids: ArrayLike<number>, blockSize: number) {
    const k = this.keys;
    if (k && k.ids === ids && k.requestId === req.id && k.blockSize === blockSize && k.lora === lora && k.salt === req.cacheSalt) return k;
    const fresh = this.view!.index.blockKeys(EXACT_INDEX_MODEL, lora, ids, req.cacheSalt ?? null, blockSize);
    return (this.keys = { requestId: req.id, ids, lora, salt: req.cacheSalt, blockSize, ...fresh });
  }

  private tokenIds(req: RouteRequest): ArrayLike<number> | undefined {
    if (req.promptTokenIds === undefined && this.tokenizer) req.promptTokenIds = this.tokenizer.encodeIds(req.prefixText);
    return req.promptTokenIds;
  }
}

/**
 * The LoRA adapter a request names, as vLLM's events carry it (`lora_name`): the requested model
 * when a candidate lists it as an adapter (`parent` set in /v1/models) or reports it in its LoRA
 * metrics; else none (the base model).
 */
export function loraOf(req: RouteRequest, candidates: EndpointState[]): string | null {
  if (req.loraAdapter) return req.loraAdapter;
  for (const c of candidates) {
    const m = c.models?.find((x) => x.id === req.model);
    if (m) return m.parent ? req.model : null;
  }
  for (const c of candidates) {
    const m = c.metrics;
    if (m && (m.activeLoras.includes(req.model) || m.waitingLoras.includes(req.model))) return req.model;
  }
  return null;
}

/** llm-d's `speculativeIndexing` (top level or under indexerConfig); kvgate's default is on. */
function speculativeIndexing(p: PrecisePrefixParams): boolean {
  return p.speculativeIndexing ?? p.indexerConfig?.speculativeIndexing ?? true;
}

/** "2s", "500ms", "1m" (llm-d's Go durations, the simple forms) → ms; undefined when absent or unreadable. */
function durationMs(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v.trim());
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

/** `fallback`: the approximate index's parameters (a configured approx-prefix-cache-producer's); default GIE's. */
export function createPrecisePrefixProducer(p: PrecisePrefixParams, env: PluginEnv, fallback?: ApproxPrefixParams): PrecisePrefixCacheProducer {
  return new PrecisePrefixCacheProducer(p, env.kvEvents, env.tokenizer, fallback);
}

export const precisePrefixCacheProducer: PluginDefinition<typeof PrecisePrefixParams> = {
  type: 'precise-prefix-cache-producer',
  kind: 'producer',
  parameters: PrecisePrefixParams,
  review: reviewPrecisePrefixParams,
  create: createPrecisePrefixProducer,
};
