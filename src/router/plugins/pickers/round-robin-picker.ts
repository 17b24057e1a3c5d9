import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z.object({ maxNumOfEndpoints: z.number().int().positive().default(1) }).strict();

/** Cycles through the candidates in id order, ignoring scores (the baseline every benchmark compares to). */
export const roundRobinPicker: PluginDefinition<typeof Params> = {
  type: 'round-robin-picker',
  kind: 'picker',
  parameters: Params,
  create: (p) => {
    let next = 0;
    return {
      kind: 'picker',
      pick: (_ctx, scored) => {
        const eps = scored.map((s) => s.endpoint).sort((a, b) => (a.info.id < b.info.id ? -1 : 1));
        const start = next++ % eps.length;
        return [...eps.slice(start), ...eps.slice(0, start)].slice(0, p.maxNumOfEndpoints);
      },
    };
  },
};
