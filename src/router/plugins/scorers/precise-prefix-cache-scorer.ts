import type { PluginDefinition } from '../types.js';
import { PrecisePrefixParams, reviewPrecisePrefixParams } from '../producers/precise-prefix-params.js';

/**
 * llm-d's precise-prefix-cache-scorer: the device-weighted count of leading prompt blocks each
 * endpoint's engine holds, by its own KV events, over the prompt's blocks, clipped to [0, 1]
 * (reference: epp-protocol-and-scheduling.md, "precise-prefix-cache-scorer"). The matching is the
 * `precise-prefix-cache-producer`'s; when the config names none, one is made with this scorer's
 * parameters (llm-d's older single-plugin form), so the same parameters configure either.
 * Endpoints without a live event stream score by the approximate index (see the producer).
 */
export const precisePrefixCacheScorer: PluginDefinition<typeof PrecisePrefixParams> = {
  type: 'precise-prefix-cache-scorer',
  kind: 'scorer',
  parameters: PrecisePrefixParams,
  review: reviewPrecisePrefixParams,
  create: () => ({
    kind: 'scorer',
    needsPrefix: true,
    exactPrefix: 'required',
    score: (ctx, eps) => {
      const pm = ctx.prefix;
      if (!pm || pm.totalBlocks === 0) return eps.map(() => 0);
      return eps.map((e) => Math.min(1, (pm.matched.get(e.info.id) ?? 0) / pm.totalBlocks));
    },
  }),
};
