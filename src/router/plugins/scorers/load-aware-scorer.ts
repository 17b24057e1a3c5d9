import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { freshMetrics } from '../metrics-view.js';

/** llm-d's load-aware-scorer: empty queue 0.5, else 0.5·(1 − min(q, T)/T); range [0, 0.5]. */
export const loadAwareScorer: PluginDefinition<z.ZodObject<{ threshold: z.ZodDefault<z.ZodNumber> }>> = {
  type: 'load-aware-scorer',
  kind: 'scorer',
  parameters: z.object({ threshold: z.number().default(128) }).strict(),
  create: (p) => {
    const t = p.threshold > 0 ? p.threshold : 128;
    return {
      kind: 'scorer',
      score: (ctx, eps) =>
        eps.map((e) => {
          const q = freshMetrics(e, ctx)?.waitingQueueSize;
          if (q === undefined) return 0;
          return q === 0 ? 0.5 : 0.5 * (1 - Math.min(q, t) / t);
        }),
    };
  },
};
