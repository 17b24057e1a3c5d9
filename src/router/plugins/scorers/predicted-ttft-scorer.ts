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
    const predict = (ep: EndpointState, ctx: CycleContext) => {
      const id = ep.info.id;
      const m = freshMetrics(ep, ctx);
      const hit = ctx.prefix ? (ctx.prefix.matched.get(id) ?? 0) * ctx.prefix.blockTokens : 0;
      const own = Math.max(1, ctx.request.promptTokens - hit);
      const queued = m ? m.waitingQueueSize * (meanQueued.get(id) ?? p.queuedRequestTokens) : 0;
      const ahead = queued + ep.dispatchedTokensSinceScrape;
      let ms = (ahead + own) / rate;
      if (!m) return { ms: ms + p.unknownPenaltyMs, ahead: ahead + own };
      ms += m.runningRequests * p.decodeMsPerRunningRequest;
      const k = Math.min(0.99, Math.max(0, m.kvCacheUsage));
      ms += (p.kvBarrierMs * k) / (1 - k);
      return { ms, ahead: ahead + own };
    };
    const scorer: Scorer = {
      kind: 'scorer',
      needsPrefix: true,
      score(ctx, eps) {
        const preds = eps.map((e) => predict(e, ctx).ms);
        const best = Math.min(...preds);
        return preds.map((v) => (best + 1) / (v + 1));
      },
      onPicked(ctx, ep) {
        const { ahead } = predict(ep, ctx);
        const hit = ctx.prefix ? (ctx.prefix.matched.get(ep.info.id) ?? 0) * ctx.prefix.blockTokens : 0;
        const own = Math.max(1, ctx.request.promptTokens - hit);
        const q = meanQueued.get(ep.info.id) ?? p.queuedRequestTokens;
        meanQueued.set(ep.info.id, q + 0.1 * (own - q));
        pending.set(ctx.request.id, { endpointId: ep.info.id, tokens: ahead, pickedMs: ctx.nowMs });
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
      predictTtftMs(ctx, ep) {
        if (!freshMetrics(ep, ctx)) return undefined;
        // The wait the endpoint's load adds: the request's own prefill is the same on an idle
        // endpoint, so a long prompt alone never makes a pool look saturated.
        const own = Math.max(1, ctx.request.promptTokens);
        return Math.max(0, predict(ep, ctx).ms - own / rate);
      },
    };
    return scorer;
  },
};
