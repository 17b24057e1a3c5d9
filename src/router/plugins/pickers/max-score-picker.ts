import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { shuffle } from './shuffle.js';

const Params = z.object({ maxNumOfEndpoints: z.number().int().positive().default(1) }).strict();

/**
 * Highest total first; ties broken randomly. For the usual single pick, one pass that keeps each
 * of k tied leaders with probability 1/k (uniform, no sort); for a fallback list, shuffle then a
 * stable sort.
 */
export const maxScorePicker: PluginDefinition<typeof Params> = {
  type: 'max-score-picker',
  kind: 'picker',
  parameters: Params,
  create: (p) => ({
    kind: 'picker',
    pick: (ctx, scored) => {
      if (p.maxNumOfEndpoints === 1) {
        let best = scored[0];
        let ties = 1;
        for (let i = 1; i < scored.length; i++) {
          const s = scored[i];
          if (s.total > best.total) {
            best = s;
            ties = 1;
          } else if (s.total === best.total && ctx.random() * ++ties < 1) best = s;
        }
        return [best.endpoint];
      }
      return shuffle(scored.slice(), ctx.random)
        .sort((a, b) => b.total - a.total)
        .slice(0, p.maxNumOfEndpoints)
        .map((s) => s.endpoint);
    },
  }),
};
