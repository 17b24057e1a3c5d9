import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Params = z.object({ label: z.string(), validValues: z.array(z.string()).default([]), allowsNoLabel: z.boolean().default(false) }).strict();

/** Deprecated llm-d filter: keeps endpoints whose `label` is one of `validValues`. */
export const byLabelFilter: PluginDefinition<typeof Params> = {
  type: 'by-label',
  kind: 'filter',
  parameters: Params,
  create: (p) => ({
    kind: 'filter',
    filter: (_ctx, eps) =>
      eps.filter((e) => {
        const v = e.info.labels[p.label];
        return v === undefined ? p.allowsNoLabel : p.validValues.includes(v);
      }),
  }),
};
