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
  'models-data-extractor',
  // llm-d's precise prefix recipe: kvgate tokenizes in-process and watches its own pool.
  'tokenizer',
  'endpoint-notification-source',
];

/** How long, by default, a model whose endpoints all left the pool is answered 503 rather than 404: 5 minutes. */
export const DEFAULT_RECENTLY_SERVED_WINDOW_SECONDS = 300;
/** The longest window accepted: a day (a model dropped on purpose stays 503 that long). */
export const MAX_RECENTLY_SERVED_WINDOW_SECONDS = 86_400;

/**
 * `models-data-source` (the data layer's served-models source; kvgate probes `/v1/models` built
 * in) takes kvgate's `recentlyServedWindowSeconds`: for how long after the last endpoint serving a
 * model left the pool a request for it is still 503 `no_ready_endpoints` with Retry-After rather
 * than 404 (requestcontrol/recently-served.ts). Seconds, > 0, at most a day; default 300. Other
 * parameters (the EPP's own) are kept without effect, as for the other data-layer plugins.
 */
const ModelsDataSourceParams = z
  .object({ recentlyServedWindowSeconds: z.number().positive().max(MAX_RECENTLY_SERVED_WINDOW_SECONDS).default(DEFAULT_RECENTLY_SERVED_WINDOW_SECONDS) })
  .catchall(z.unknown());

const modelsDataSource: PluginDefinition<typeof ModelsDataSourceParams> = {
  type: 'models-data-source',
  kind: 'data',
  onePerConfig: "each endpoint's served models and the recently-served window",
  parameters: ModelsDataSourceParams,
  create: () => ({ kind: 'data' as const }),
};

/**
 * The recently-served window of a loaded config, in milliseconds: its `models-data-source`
 * plugin's `recentlyServedWindowSeconds` (validated when the config loaded; a config has at most
 * one, onePerConfig), else the default.
 */
export function recentlyServedWindowMs(config: { plugins: readonly { type: string; parameters: Record<string, unknown> }[] }): number {
  const spec = config.plugins.find((p) => p.type === modelsDataSource.type);
  return ModelsDataSourceParams.parse(spec?.parameters ?? {}).recentlyServedWindowSeconds * 1000;
}

export const dataPlugins: PluginDefinition[] = [
  modelsDataSource,
  ...BUILT_IN.map((type) => ({
    type,
    kind: 'data' as const,
    parameters: z.record(z.string(), z.unknown()),
    create: () => ({ kind: 'data' as const }),
  })),
] as PluginDefinition[];
