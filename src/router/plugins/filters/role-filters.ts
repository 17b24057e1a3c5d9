import { z } from 'zod';
import type { PluginDefinition } from '../types.js';

const ROLE_LABEL = 'llm-d.ai/role';

function roleFilter(type: string, roles: string[], keepUnlabeled: boolean): PluginDefinition {
  return {
    type,
    kind: 'filter',
    parameters: z.object({}).strict(),
    create: () => ({
      kind: 'filter',
      filter: (_ctx, eps) =>
        eps.filter((e) => {
          const r = e.info.labels[ROLE_LABEL];
          return r === undefined ? keepUnlabeled : roles.includes(r);
        }),
    }),
  };
}

/** Disaggregated serving roles by the `llm-d.ai/role` label; decode also keeps unlabeled endpoints. */
export const decodeFilter = roleFilter('decode-filter', ['decode', 'prefill-decode', 'both', 'encode-prefill-decode'], true);
export const prefillFilter = roleFilter('prefill-filter', ['prefill', 'encode-prefill', 'prefill-decode', 'both', 'encode-prefill-decode'], false);
export const encodeFilter = roleFilter('encode-filter', ['encode', 'encode-prefill', 'encode-prefill-decode'], false);
