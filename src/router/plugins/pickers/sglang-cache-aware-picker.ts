import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z
  .object({
    cache_threshold: z.number().min(0).max(1).default(0.3),
    balance_abs_threshold: z.number().min(0).default(64),
    balance_rel_threshold: z.number().min(1).default(1.5),
    maxNumOfEndpoints: z.number().int().positive().default(1),
  })
  .strict();

/**
 * SGLang router's cache_aware decision rule: when load is imbalanced (max − min > abs and
 * max > rel × min, on this router's in-flight requests) send to the least loaded; otherwise to
 * the best prefix match if its match rate exceeds cache_threshold, else the least loaded.
 */
export const sglangCacheAwarePicker: PluginDefinition<typeof Params> = {
  type: 'sglang-cache-aware-picker',
  kind: 'picker',
  parameters: Params,
  create: (p) => ({
    kind: 'picker',
    needsPrefix: true,
    pick: (ctx, scored) => {
      const eps = scored.map((s) => s.endpoint);
      const byLoad = eps.slice().sort((a, b) => a.inFlightRequests - b.inFlightRequests || (ctx.random() < 0.5 ? -1 : 1));
      const loads = eps.map((e) => e.inFlightRequests);
      const max = Math.max(...loads);
      const min = Math.min(...loads);
      const imbalanced = max - min > p.balance_abs_threshold && max > p.balance_rel_threshold * min;
      let first = byLoad[0];
      if (!imbalanced && ctx.prefix && ctx.prefix.totalBlocks > 0) {
        let best = first;
        let bestMatch = -1;
        for (const e of eps) {
          const m = ctx.prefix.matched.get(e.info.id) ?? 0;
          if (m > bestMatch) [best, bestMatch] = [e, m];
        }
        if (bestMatch / ctx.prefix.totalBlocks > p.cache_threshold) first = best;
      }
      return [first, ...byLoad.filter((e) => e !== first)].slice(0, p.maxNumOfEndpoints);
    },
  }),
};
