import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { freshMetrics } from '../metrics-view.js';
import type { EndpointState } from '../../api.js';
import type { CycleContext } from '../types.js';

const Condition = z
  .object({ metric: z.enum(['active-requests', 'running-requests', 'waiting-queue', 'kv-cache-utilization']), maxValue: z.number() })
  .strict();
const Params = z.object({ conditions: z.array(Condition).min(1), fallbackOnEmpty: z.boolean().default(false) }).strict();

function value(e: EndpointState, ctx: CycleContext, metric: z.infer<typeof Condition>['metric']): number {
  if (metric === 'active-requests') return e.inFlightRequests;
  const m = freshMetrics(e, ctx);
  if (!m) return Infinity; // unknown counts as over the limit
  if (metric === 'running-requests') return m.runningRequests;
  if (metric === 'waiting-queue') return m.waitingQueueSize;
  return m.kvCacheUsage;
}

/** Drops endpoints over any of the configured limits (optionally all of them back if none remain). */
export const utilizationFilter: PluginDefinition<typeof Params> = {
  type: 'utilization-filter',
  kind: 'filter',
  parameters: Params,
  create: (p) => ({
    kind: 'filter',
    filter: (ctx, eps) => {
      const kept = eps.filter((e) => p.conditions.every((c) => value(e, ctx, c.metric) <= c.maxValue));
      return kept.length === 0 && p.fallbackOnEmpty ? eps : kept;
    },
  }),
};
