import { z } from 'zod';
import type { PluginDefinition } from './types.js';

/** Runs the one scheduling profile and uses its result (the default handler). */
export const singleProfileHandler: PluginDefinition = {
  type: 'single-profile-handler',
  kind: 'profile-handler',
  parameters: z.object({}).strict(),
  create: () => ({ kind: 'profile-handler' }),
};
