import { z } from 'zod';
import type { PluginDefinition } from './types.js';

/**
 * Plugin types of the EPP's data layer and request parsing that kvgate does built in (metrics
 * scraping, in-flight bookkeeping, OpenAI parsing). They are
 * accepted so configs written for the GIE / llm-d EPP load unchanged; their parameters are kept
 * but do not change behaviour.
 */
const BUILT_IN = [
  'metrics-data-source',
  'core-metrics-extractor',
  'inflight-load-producer',
  'token-producer',
  'openai-parser',
  'passthrough-parser',
  'models-data-source',
  'models-data-extractor',
  // llm-d's precise prefix recipe: kvgate tokenizes in-process and watches its own pool.
  'tokenizer',
  'endpoint-notification-source',
];

export const dataPlugins: PluginDefinition[] = BUILT_IN.map((type) => ({
  type,
  kind: 'data' as const,
  parameters: z.record(z.string(), z.unknown()),
  create: () => ({ kind: 'data' as const }),
}));
