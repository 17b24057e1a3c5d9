import { z } from 'zod';
import type { CycleContext, PluginDefinition, Scorer } from '../types.js';
import type { EndpointState } from '../../api.js';
import { freshMetrics } from '../metrics-view.js';

const Params = z
  .object({
    /** Starting prefill rate per endpoint; learned online from observed TTFTs afterwards. */
    prefillTokensPerSecond: z.number().positive().default(15_928),
    /** Mean uncached prompt tokens assumed per queued request until learned. */
    queuedRequestTokens: z.number().positive().default(512),
    /** Added per running (decoding) request: decode work shares every engine step. */
    decodeMsPerRunningRequest: z.number().min(0).default(0.5),
    /** KV-pressure barrier scale: kvBarrierMs · k/(1−k). */
    kvBarrierMs: z.number().min(0).default(50),
    /** Count this router's in-flight prefill tokens (queued or prefilling) when more than the metrics show. */
    inFlightPrefill: z.boolean().default(false),
    /** Weight of the load externality: own prefill × ρ/(1−ρ), ρ the endpoint's recent prefill utilization. */
    externalityWeight: z.number().min(0).default(0),
    /** Time constant of the utilization estimate, ms. */
    utilizationWindowMs: z.number().positive().default(10_000),
    /** Charge for placing a prefix that another endpoint already caches: × the recompute time of the difference. */
    duplicationWeight: z.number().min(0).default(0),
    /** Predicted TTFT for an endpoint whose metrics are stale or missing. */
    unknownPenaltyMs: z.number().min(0).default(10_000),
    /** EWMA weight of each new rate observation. */
    learningRate: z.number().min(0).max(1).default(0.2),
    /** Ignore TTFT samples for fewer tokens than this (fixed overheads dominate them). */
    minLearnTokens: z.number().int().min(0).default(256),
  })
  .strict();

interface Pending {
  endpointId: string;
  tokens: number;
  pickedMs: number;
}

/** Exponentially decaying rate of prefill tokens sent to one endpoint (tokens per ms). */
interface Demand {
  tokensPerMs: number;
  atMs: number;
}

/**
 * Predicts each endpoint's time to first token for this request and scores lower predictions
 * higher (best = 1, others best/own). Cache affinity and load meet in one currency: the tokens
 * that must be prefilled before this request's first token, over the endpoint's prefill rate.
 * See docs/predicted-ttft.md.
 */
export const predictedTtftScorer: PluginDefinition<typeof Params> = {
  type: 'predicted-ttft-scorer',
  kind: 'scorer',
  parameters: Params,
  create: (p) => {
    const seedRate = p.prefillTokensPerSecond / 1000; // tokens per ms
    // One prefill rate for the pool: replicas of an InferencePool serve one model on one kind of
    // hardware, and a per-endpoint rate would only be learned where traffic already goes, making
    // that endpoint look ever faster (rich-get-richer).
    let rate = seedRate;
    const meanQueued = new Map<string, number>();
    const pending = new Map<string, Pending>();
    const demand = new Map<string, Demand>();
    const demandAt = (id: string, nowMs: number) => {
      const d = demand.get(id);
      if (!d) return 0;
      return d.tokensPerMs * Math.exp(-Math.max(0, nowMs - d.atMs) / p.utilizationWindowMs);
    };
    const hitOf = (ep: EndpointState, ctx: CycleContext) => (ctx.prefix ? (ctx.prefix.matched.get(ep.info.id) ?? 0) * ctx.prefix.blockTokens : 0);
    const aheadOf = (ep: EndpointState, ctx: CycleContext) => {
      const m = freshMetrics(ep, ctx);
      const queued = m ? m.waitingQueueSize * (meanQueued.get(ep.info.id) ?? p.queuedRequestTokens) : 0;
      const ahead = queued + ep.dispatchedTokensSinceScrape;
      return p.inFlightPrefill ? Math.max(ahead, ep.inFlightTokens) : ahead;
    };
    const predict = (ep: EndpointState, ctx: CycleContext, bestHit: number) => {
      const m = freshMetrics(ep, ctx);
      const hit = hitOf(ep, ctx);
      const own = Math.max(1, ctx.request.promptTokens - hit);
      let ms = (aheadOf(ep, ctx) + own) / rate;
      if (p.externalityWeight > 0) {
        const rho = Math.min(0.95, demandAt(ep.info.id, ctx.nowMs) / rate);
        ms += (p.externalityWeight * own * rho) / (1 - rho) / rate;
      }
      ms += (p.duplicationWeight * Math.max(0, bestHit - hit)) / rate;
      if (!m) return ms + p.unknownPenaltyMs;
      ms += m.runningRequests * p.decodeMsPerRunningRequest;
      const k = Math.min(0.99, Math.max(0, m.kvCacheUsage));
      ms += (p.kvBarrierMs * k) / (1 - k);
      return ms;
    };
    const scorer: Scorer = {
      kind: 'scorer',
      needsPrefix: true,
      score(ctx, eps) {
        let bestHit = 0;
        if (ctx.prefix) for (const m of ctx.prefix.matched.values()) bestHit = Math.max(bestHit, m * ctx.prefix.blockTokens);
        const preds = eps.map((e) => predict(e, ctx, bestHit));
        const best = Math.min(...preds);
        return preds.map((v) => (best + 1) / (v + 1));
      },
      onPicked(ctx, ep) {
        const id = ep.info.id;
        const own = Math.max(1, ctx.request.promptTokens - hitOf(ep, ctx));
        const ahead = aheadOf(ep, ctx) + own;
        const q = meanQueued.get(id) ?? p.queuedRequestTokens;
        meanQueued.set(id, q + 0.1 * (own - q));
        pending.set(ctx.request.id, { endpointId: id, tokens: ahead, pickedMs: ctx.nowMs });
        if (p.externalityWeight > 0) {
          // Decaying sum: tokens/ms over the last utilizationWindowMs.
          demand.set(id, { tokensPerMs: demandAt(id, ctx.nowMs) + own / p.utilizationWindowMs, atMs: ctx.nowMs });
        }
      },
      onFirstToken(requestId, endpointId, nowMs) {
        const pd = pending.get(requestId);
        pending.delete(requestId);
        if (!pd || pd.endpointId !== endpointId || pd.tokens < p.minLearnTokens) return;
        const ttft = nowMs - pd.pickedMs;
        if (ttft <= 0) return;
        const observed = pd.tokens / ttft;
        const next = rate + p.learningRate * (observed - rate);
        rate = Math.min(seedRate * 10, Math.max(seedRate / 10, next));
      },
      onComplete(requestId) {
        pending.delete(requestId);
      },
    };
    return scorer;
  },
};
