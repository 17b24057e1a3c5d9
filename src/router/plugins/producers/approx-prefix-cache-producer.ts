import { z } from 'zod';
import type { DatastoreListener, EndpointMetrics, EndpointState } from '../../api.js';
import type { CycleContext, DataProducer, PluginDefinition } from '../types.js';
import { ApproxPrefixIndex, type PrefixHashes } from '../../prefix/approx-prefix-index.js';
import { UnconfirmedBlocks } from '../../prefix/unconfirmed-blocks.js';

/** The index parameters, as llm-d's approx-prefix-cache-producer (and GIE ≤ v1.4's prefix scorer) names them. */
export const ApproxPrefixParams = z
  .object({
    blockSizeTokens: z.number().int().positive().default(16),
    /** Deprecated GIE v1.0 form: block size in characters. */
    hashBlockSize: z.number().int().positive().optional(),
    blockSize: z.number().int().positive().optional(),
    maxPrefixBlocksToMatch: z.number().int().positive().default(256),
    maxPrefixTokensToMatch: z.number().int().min(0).default(0),
    lruCapacityPerServer: z.number().int().positive().optional(),
    autoTune: z.boolean().default(true),
  })
  .strict();
export type ApproxPrefixParams = z.infer<typeof ApproxPrefixParams>;

const DEFAULT_LRU_CAPACITY = 31_250;

/**
 * The approximate index these parameters describe: blocks of blockSizeTokens × 4 characters (or
 * the deprecated character sizes), at most maxPrefixBlocksToMatch of them (or
 * maxPrefixTokensToMatch worth), lruCapacityPerServer entries per endpoint (default 31,250).
 * Also the precise producer's per-endpoint fallback.
 */
export function approxIndexFor(p: ApproxPrefixParams): ApproxPrefixIndex {
  const blockChars = p.hashBlockSize ?? p.blockSize ?? p.blockSizeTokens * 4;
  const maxBlocks = p.maxPrefixTokensToMatch > 0 ? Math.max(1, Math.floor(p.maxPrefixTokensToMatch / (blockChars / 4))) : p.maxPrefixBlocksToMatch;
  return new ApproxPrefixIndex({ blockChars, maxBlocks, defaultCapacity: p.lruCapacityPerServer ?? DEFAULT_LRU_CAPACITY });
}

/** Whether the index is sized per endpoint from vllm:cache_config_info (GIE's autoTune; off with an explicit capacity). */
export function approxAutoTune(p: ApproxPrefixParams): boolean {
  return p.autoTune && p.lruCapacityPerServer === undefined;
}

/**
 * Owns the approximate prefix index (prefix/approx-prefix-index.ts) and fills `ctx.prefix` for
 * every scheduling cycle: hashes the request's prompt text in blocks of blockSizeTokens × 4
 * characters, matches them per endpoint, and after the pick records the request's blocks on the
 * chosen endpoint (GIE's PreRequest step), taking them back if the request ends without a first
 * token from that endpoint (prefix/unconfirmed-blocks.ts). It hears from the datastore when an endpoint leaves
 * (its entries go) and, with autoTune and no explicit lruCapacityPerServer, sizes each endpoint's
 * LRU from `vllm:cache_config_info{num_gpu_blocks}`.
 */
export class ApproxPrefixCacheProducer implements DataProducer, DatastoreListener {
  readonly kind = 'producer';
  readonly produces = 'prefix';
  readonly index: ApproxPrefixIndex;
  private readonly autoTune: boolean;
  private hashes?: PrefixHashes;
  private readonly unconfirmed: UnconfirmedBlocks;
  /** Blocks queried and matched on the chosen endpoints (for metrics and benches). */
  blocksQueried = 0;
  blocksMatched = 0;

  constructor(p: ApproxPrefixParams) {
    this.index = approxIndexFor(p);
    this.autoTune = approxAutoTune(p);
    this.unconfirmed = new UnconfirmedBlocks(this.index);
  }

  prepare(ctx: CycleContext): void {
    const req = ctx.request;
    this.hashes = this.index.hash(req.model, req.cacheSalt, req.prefixText);
    ctx.prefix = { totalBlocks: this.hashes.count, blockTokens: this.index.blockChars / 4, matched: this.index.match(this.hashes) };
  }

  onPicked(ctx: CycleContext, endpoint: EndpointState): void {
    if (!this.hashes || !ctx.prefix) return;
    const matched = ctx.prefix.matched.get(endpoint.info.id) ?? 0;
    this.unconfirmed.add(ctx.request.id, endpoint.info.id, this.hashes, matched);
    this.blocksQueried += this.hashes.count;
    this.blocksMatched += matched;
  }

  onFirstToken(requestId: string, endpointId: string): void {
    this.unconfirmed.firstToken(requestId, endpointId);
  }

  onComplete(requestId: string): void {
    this.unconfirmed.complete(requestId);
  }

  endpointRemoved(id: string): void {
    this.unconfirmed.forget(id);
    this.index.removeEndpoint(id);
  }

  metricsUpdated(id: string, m: EndpointMetrics): void {
    if (this.autoTune && m.numGpuBlocks) this.index.setCapacity(id, m.numGpuBlocks);
  }

  get entries(): number {
    return this.index.entries;
  }
}

export const approxPrefixCacheProducer: PluginDefinition<typeof ApproxPrefixParams> = {
  type: 'approx-prefix-cache-producer',
  kind: 'producer',
  parameters: ApproxPrefixParams,
  create: (p) => new ApproxPrefixCacheProducer(p),
};
