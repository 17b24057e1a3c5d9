import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z.object({ queueThresholdTokens: z.number().positive().default(4_194_304), lookahead: z.boolean().default(false) }).strict();

/**
 * 1 − min(1, in-flight tokens / threshold). With `lookahead`, this request's uncached tokens are
 * added first (llm-d's lookahead formulation).
 */
export const tokenLoadScorer: PluginDefinition<typeof Params> = {
  type: 'token-load-scorer',
  kind: 'scorer',
  parameters: Params,
  create: (p) => ({
    kind: 'scorer',
    needsPrefix: p.lookahead,
    score: (ctx, eps) =>
      eps.map((e) => {
        let tokens = e.inFlightTokens;
        if (p.lookahead && ctx.prefix) {
          const hit = (ctx.prefix.matched.get(e.info.id) ?? 0) * ctx.prefix.blockTokens;
          tokens += Math.max(0, ctx.request.promptTokens - hit);
        }
        return 1 - Math.min(1, tokens / p.queueThresholdTokens);
      }),
  }),
};
