import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { freshMetrics, minMaxLowerIsBetter } from '../metrics-view.js';

/** Fewer running requests scores higher, min-max over the candidates. */
export const runningRequestsSizeScorer: PluginDefinition = {
  type: 'running-requests-size-scorer',
  kind: 'scorer',
  parameters: z.object({}).strict(),
  create: () => ({
    kind: 'scorer',
    score: (ctx, eps) => minMaxLowerIsBetter(eps.map((e) => freshMetrics(e, ctx)?.runningRequests ?? Infinity)),
  }),
};
