import type { DatastoreListener, EndpointMetrics, EndpointState, PrefixSource, RouteRequest } from '../../api.js';
import type { CycleContext, DataProducer, PluginDefinition, PluginEnv } from '../types.js';
import { ApproxPrefixCacheProducer, ApproxPrefixParams } from './approx-prefix-cache-producer.js';
import { PrecisePrefixParams, tierWeights } from './precise-prefix-params.js';
import { EXACT_INDEX_MODEL, exactStateKnown, type KvEventsView, type PromptTokenizer } from '../../prefix/kv-events-view.js';
import type { TierWeights } from '../../prefix/exact-prefix-index.js';

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
  private readonly approx = new ApproxPrefixCacheProducer(ApproxPrefixParams.parse({}));
  private readonly weights: TierWeights;
  private readonly awaiting = new Map<string, Awaiting>();
  private readonly silentMs: number;
  private liveScratch: boolean[] = [];

  constructor(
    p: PrecisePrefixParams,
    private readonly view: KvEventsView | undefined,
    private readonly tokenizer: PromptTokenizer | undefined,
  ) {
    this.weights = tierWeights(p);
    this.silentMs = p.silentStreamMs;
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
    this.approx.prepare(ctx);
    const approx = ctx.prefix!;
    const req = ctx.request;
    const source = new Map<string, PrefixSource>();
    const view = this.view;
    const ids = view ? this.tokenIds(req) : undefined;
    let blockTokens = 0;
    let live = 0;
    const isLive = this.liveScratch.length >= candidates.length ? this.liveScratch : (this.liveScratch = new Array<boolean>(candidates.length * 2));
    for (let i = 0; i < candidates.length; i++) {
      isLive[i] = view !== undefined && ids !== undefined && this.isLive(candidates[i].info.id, ctx.nowMs);
      if (!isLive[i]) continue;
      live++;
      blockTokens ||= view!.index.blockSize(candidates[i].info.id);
    }
    if (!view || !ids || live === 0) {
      for (const c of candidates) source.set(c.info.id, 'approx');
      ctx.prefix = { ...approx, source };
      return;
    }
    // A live endpoint that has not stored a block yet has no size: count in the approximate one's.
    blockTokens ||= approx.blockTokens;
    const n = ids.length;
    const totalBlocks = Math.max(0, Math.floor((n - 1) / blockTokens));
    const exact = view.index.matchWeighted(EXACT_INDEX_MODEL, loraOf(req, candidates), ids, req.cacheSalt ?? null, this.weights);
    const tokensPerApproxBlock = (this.approx.index.blockChars * n) / Math.max(1, req.prefixText.length);
    const matched = new Map<string, number>();
    for (let i = 0; i < candidates.length; i++) {
      const id = candidates[i].info.id;
      let blocks: number;
      if (isLive[i]) {
        source.set(id, 'exact');
        const m = exact.get(id) ?? 0;
        const bs = view.index.blockSize(id) || blockTokens;
        blocks = bs === blockTokens ? Math.min(m, totalBlocks) : (Math.min(m, Math.floor((n - 1) / bs)) * bs) / blockTokens;
      } else {
        source.set(id, 'approx');
        blocks = Math.min(totalBlocks, Math.floor(((approx.matched.get(id) ?? 0) * tokensPerApproxBlock) / blockTokens));
      }
      if (blocks > 0) matched.set(id, blocks);
    }
    ctx.prefix = { totalBlocks, blockTokens, matched, source };
  }

  onPicked(ctx: CycleContext, endpoint: EndpointState): void {
    this.approx.onPicked(ctx, endpoint);
    const pm = ctx.prefix;
    const id = endpoint.info.id;
    if (!pm || pm.source?.get(id) !== 'exact' || this.awaiting.has(id)) return;
    // Blocks past the match will be stored: a batch must follow.
    if ((pm.matched.get(id) ?? 0) < pm.totalBlocks) {
      const st = this.view?.status(id);
      if (st) this.awaiting.set(id, { atMs: ctx.nowMs, batches: st.batches });
    }
  }

  endpointRemoved(id: string): void {
    this.awaiting.delete(id);
    this.approx.endpointRemoved(id);
  }

  metricsUpdated(id: string, m: EndpointMetrics): void {
    this.approx.metricsUpdated(id, m);
  }

  /** Entries of the approximate fallback index (the exact index is the pool's). */
  get entries(): number {
    return this.approx.entries;
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

export function createPrecisePrefixProducer(p: PrecisePrefixParams, env: PluginEnv): PrecisePrefixCacheProducer {
  return new PrecisePrefixCacheProducer(p, env.kvEvents, env.tokenizer);
}

export const precisePrefixCacheProducer: PluginDefinition<typeof PrecisePrefixParams> = {
  type: 'precise-prefix-cache-producer',
  kind: 'producer',
  parameters: PrecisePrefixParams,
  create: createPrecisePrefixProducer,
};
