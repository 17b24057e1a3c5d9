import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { ApproxPrefixParams } from '../producers/approx-prefix-cache-producer.js';

/**
 * The scorer's parameters: its own (match-length weighting, which producer to read) plus the
 * index parameters GIE ≤ v1.4 gave the scorer itself, which configure the approximate producer
 * kvgate creates when none is listed (router.ts).
 */
export const PrefixParams = ApproxPrefixParams.extend({
  lruCapacityPerServer: z.number().int().positive().default(31_250),
  matchLengthWeight: z.number().min(0).max(1).default(0),
  matchLengthScaleTokens: z.number().positive().default(8192),
  prefixMatchInfoProducerName: z.string().optional(),
}).strict();
export type PrefixParams = z.infer<typeof PrefixParams>;

/**
 * matchedBlocks / totalBlocks from the approximate prefix index (0 below one block). With
 * matchLengthWeight w: w·min(1, matchedTokens/scale)² + (1 − w)·ratio, as llm-d.
 */
export const prefixCacheScorer: PluginDefinition<typeof PrefixParams> = {
  type: 'prefix-cache-scorer',
  kind: 'scorer',
  parameters: PrefixParams,
  create: (p) => ({
    kind: 'scorer',
    needsPrefix: true,
    score: (ctx, eps) => {
      const pm = ctx.prefix;
      if (!pm || pm.totalBlocks === 0) return eps.map(() => 0);
      return eps.map((e) => {
        const m = pm.matched.get(e.info.id) ?? 0;
        const ratio = m / pm.totalBlocks;
        if (p.matchLengthWeight === 0) return ratio;
        const len = Math.min(1, (m * pm.blockTokens) / p.matchLengthScaleTokens);
        return p.matchLengthWeight * len * len + (1 - p.matchLengthWeight) * ratio;
      });
    },
  }),
};
