import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z
  .object({ prefixPluginType: z.string().optional(), prefixPluginName: z.string().optional(), lruSize: z.number().int().positive().default(1024) })
  .strict();

/**
 * Spreads cold requests (no prefix hit anywhere): least recently used endpoints first, never-used
 * ones before all; a warm request scores 0.5 everywhere so prefix affinity decides.
 */
export const noHitLruScorer: PluginDefinition<typeof Params> = {
  type: 'no-hit-lru-scorer',
  kind: 'scorer',
  parameters: Params,
  create: () => {
    const lastUsed = new Map<string, number>();
    let tick = 0;
    const isCold = (matched: Map<string, number> | undefined) => !matched || [...matched.values()].every((v) => v === 0);
    return {
      kind: 'scorer',
      needsPrefix: true,
      score: (ctx, eps) => {
        if (!isCold(ctx.prefix?.matched)) return eps.map(() => 0.5);
        if (eps.length === 1) return [1];
        const order = eps
          .map((e, i) => ({ i, t: lastUsed.get(e.info.id) ?? -1 }))
          .sort((a, b) => a.t - b.t);
        const scores = new Array<number>(eps.length);
        order.forEach((o, rank) => (scores[o.i] = 1 - rank / (eps.length - 1)));
        return scores;
      },
      onPicked: (ctx, ep) => {
        if (isCold(ctx.prefix?.matched)) lastUsed.set(ep.info.id, ++tick);
      },
    };
  },
};
