import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { freshMetrics } from '../metrics-view.js';

/** 1.0 adapter active; 0.8 not active but a slot is free; 0.6 adapter waiting; 0 at capacity or unknown. */
export const loraAffinityScorer: PluginDefinition = {
  type: 'lora-affinity-scorer',
  kind: 'scorer',
  parameters: z.object({}).strict(),
  create: () => ({
    kind: 'scorer',
    score: (ctx, eps) => {
      const adapter = ctx.request.loraAdapter ?? ctx.request.model;
      return eps.map((e) => {
        const m = freshMetrics(e, ctx);
        if (!m) return 0;
        if (m.activeLoras.includes(adapter)) return 1;
        if (m.activeLoras.length < m.maxLoras) return 0.8;
        if (m.waitingLoras.includes(adapter)) return 0.6;
        return 0;
      });
    },
  }),
};
