import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z
  .object({ idleThreshold: z.number().int().min(0).default(0), maxBusyScore: z.number().min(0).max(1).default(1), requestTimeout: z.string().optional() })
  .strict();

/** Requests this router has in flight per endpoint: idle → 1, else (max − n)/max × maxBusyScore. */
export const activeRequestScorer: PluginDefinition<typeof Params> = {
  type: 'active-request-scorer',
  kind: 'scorer',
  parameters: Params,
  create: (p) => ({
    kind: 'scorer',
    score: (_ctx, eps) => {
      const max = Math.max(0, ...eps.map((e) => e.inFlightRequests));
      return eps.map((e) => (e.inFlightRequests <= p.idleThreshold ? 1 : ((max - e.inFlightRequests) / max) * p.maxBusyScore));
    },
  }),
};
