import { z } from 'zod';
import type { PluginDefinition } from '../types.js';
import { shuffle } from './shuffle.js';

const Params = z.object({ maxNumOfEndpoints: z.number().int().positive().default(1) }).strict();

/** Uniformly random order, ignoring scores. */
export const randomPicker: PluginDefinition<typeof Params> = {
  type: 'random-picker',
  kind: 'picker',
  parameters: Params,
  create: (p) => ({
    kind: 'picker',
    pick: (ctx, scored) => shuffle(scored.map((s) => s.endpoint), ctx.random).slice(0, p.maxNumOfEndpoints),
  }),
};
