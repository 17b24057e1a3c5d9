import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { shuffle } from './shuffle.js';

const Params = z.object({ maxNumOfEndpoints: z.number().int().positive().default(1) }).strict();

/** A-Res weighted sampling without replacement: key = U^(1/score); all scores ≤ 0 → uniform. */
export const weightedRandomPicker: PluginDefinition<typeof Params> = {
  type: 'weighted-random-picker',
  kind: 'picker',
  parameters: Params,
  create: (p) => ({
    kind: 'picker',
    pick: (ctx, scored) => {
      if (scored.every((s) => s.total <= 0)) return shuffle(scored.map((s) => s.endpoint), ctx.random).slice(0, p.maxNumOfEndpoints);
      return scored
        .map((s) => ({ s, key: s.total > 0 ? Math.pow(ctx.random(), 1 / s.total) : -1 }))
        .sort((a, b) => b.key - a.key)
        .slice(0, p.maxNumOfEndpoints)
        .map((x) => x.s.endpoint);
    },
  }),
};
