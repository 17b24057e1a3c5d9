import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const Expression = z
  .object({ key: z.string(), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).default([]) })
  .strict();
const Params = z.object({ matchLabels: z.record(z.string(), z.string()).default({}), matchExpressions: z.array(Expression).default([]) }).strict();

/** Keeps endpoints whose labels match a Kubernetes-style label selector. */
export const labelSelectorFilter: PluginDefinition<typeof Params> = {
  type: 'label-selector-filter',
  aliases: ['by-label-selector'],
  kind: 'filter',
  parameters: Params,
  create: (p) => ({
    kind: 'filter',
    filter: (_ctx, eps) =>
      eps.filter((e) => {
        const l = e.info.labels;
        for (const [k, v] of Object.entries(p.matchLabels)) if (l[k] !== v) return false;
        for (const x of p.matchExpressions) {
          const has = Object.hasOwn(l, x.key);
          if (x.operator === 'Exists' && !has) return false;
          if (x.operator === 'DoesNotExist' && has) return false;
          if (x.operator === 'In' && !(has && x.values.includes(l[x.key]))) return false;
          if (x.operator === 'NotIn' && has && x.values.includes(l[x.key])) return false;
        }
        return true;
      }),
  }),
};
