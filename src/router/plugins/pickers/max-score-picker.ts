import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { shuffle } from './shuffle.js';

const Params = z.object({ maxNumOfEndpoints: z.number().int().positive().default(1) }).strict();

/** Highest total first; ties broken randomly (shuffle, then a stable sort). */
export const maxScorePicker: PluginDefinition<typeof Params> = {
  type: 'max-score-picker',
  kind: 'picker',
  parameters: Params,
  create: (p) => ({
    kind: 'picker',
    pick: (ctx, scored) =>
      shuffle(scored.slice(), ctx.random)
        .sort((a, b) => b.total - a.total)
        .slice(0, p.maxNumOfEndpoints)
        .map((s) => s.endpoint),
  }),
};
