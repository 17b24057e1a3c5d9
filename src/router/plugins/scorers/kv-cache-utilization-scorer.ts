import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { freshMetrics } from '../metrics-view.js';

/** 1 − KV-cache utilisation; unknown metrics count as full. */
export const kvCacheUtilizationScorer: PluginDefinition = {
  type: 'kv-cache-utilization-scorer',
  // GIE v0.5.x's name (the first release with config files), renamed in v1.0.0 (#1238); same score.
  renamedFrom: { 'kv-cache-scorer': "GIE v0.5's name for kv-cache-utilization-scorer (renamed in GIE v1.0.0)" },
  kind: 'scorer',
  parameters: z.object({}).strict(),
  create: () => ({
    kind: 'scorer',
    score: (ctx, eps) => eps.map((e) => 1 - Math.min(1, Math.max(0, freshMetrics(e, ctx)?.kvCacheUsage ?? 1))),
  }),
};
