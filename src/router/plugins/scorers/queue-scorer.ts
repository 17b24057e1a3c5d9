import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { freshMetrics, minMaxLowerIsBetter } from '../metrics-view.js';

/** Shorter waiting queue scores higher, min-max over the candidates; unknown metrics score 0. */
export const queueScorer: PluginDefinition = {
  type: 'queue-scorer',
  kind: 'scorer',
  parameters: z.object({}).strict(),
  create: () => ({
    kind: 'scorer',
    score: (ctx, eps) => minMaxLowerIsBetter(eps.map((e) => freshMetrics(e, ctx)?.waitingQueueSize ?? Infinity)),
  }),
};
