import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { durationMs, freshMetrics, parseDurationMs } from '../metrics-view.js';

const Params = z
  .object({
    queueDepthThreshold: z.number().positive().default(5),
    kvCacheUtilThreshold: z.number().gt(0).max(1).default(0.8),
    metricsStalenessThreshold: z
      .union([z.string().refine((v) => parseDurationMs(v) !== undefined, 'expected a duration like 200ms, 2s or 1m30s'), z.number().min(0)])
      .default('200ms'),
    headroom: z.number().min(0).default(0),
  })
  .strict();

/**
 * Pool saturation = mean over candidates of max(queue/Tq, kv/Tkv); stale or missing metrics
 * count 1.0; an empty pool is saturated. ≥ 1 sheds sheddable (priority < 0) requests.
 */
export const utilizationDetector: PluginDefinition<typeof Params> = {
  type: 'utilization-detector',
  kind: 'saturation-detector',
  parameters: Params,
  create: (p) => {
    const staleMs = durationMs(p.metricsStalenessThreshold);
    return {
      kind: 'saturation-detector',
      saturation: (ctx, eps) => {
        if (eps.length === 0) return 1;
        let sum = 0;
        for (const e of eps) {
          const m = freshMetrics(e, ctx, staleMs);
          sum += m ? Math.max(m.waitingQueueSize / p.queueDepthThreshold, m.kvCacheUsage / p.kvCacheUtilThreshold) : 1;
        }
        return sum / eps.length;
      },
    };
  },
};
