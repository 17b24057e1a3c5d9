import { z } from 'zod';
import { DEFAULT_TIER_WEIGHTS, type TierWeights } from '../../prefix/exact-prefix-index.js';
import type { EffectiveConfig } from '../../config/config.js';

const port = z.number().int().min(1).max(65535);

/**
 * Parameters of llm-d's `precise-prefix-cache-producer` / `precise-prefix-cache-scorer`, by
 * llm-d's names, so its EndpointPickerConfigs load unchanged. What kvgate does with each:
 *
 * - `tokenProcessorConfig.blockSize` / `blockSizeTokens`, `hashSeed`, `hashAlgorithm`: accepted,
 *   not needed — kvgate keys blocks by its own hash of their token ids and takes each engine's
 *   block size from its events, so it never reproduces vLLM's hash (seed, algorithm).
 * - `indexerConfig.kvCacheBackendConfigs[{name, weight}]`: tier weights (`gpu`, `cpu`; any other
 *   name weighs other media) of the device-weighted match; default gpu 1.0, cpu 0.8.
 * - `kvEventsConfig.zmqEndpoint` (bind, llm-d's layout), `topicFilter`,
 *   `podDiscoveryConfig.socketPort` / `replaySocketPort` (connect to every endpoint): where KV
 *   events come from, used when the command line does not say (`--kv-events-*` win).
 * - `speculativeIndexing` (also under `indexerConfig`; kvgate's default: on), `speculativeTTL`
 *   (default 2s): a pick records the request's blocks on its endpoint until the engine's events
 *   catch up (at most this long after its first token), see prefix/speculative-blocks.ts.
 * - `kvEventsConfig.concurrency`, `engineType`, `discoverPods`, `podDiscoveryConfig.podLabelSelector`
 *   / `podNamespace`, `indexerConfig.kvBlockIndexConfig`, `tokenizersPoolConfig`: accepted;
 *   kvgate discovers endpoints from its own pool source, tokenizes in-process and keeps one
 *   in-memory index.
 *
 * kvgate's own: `silentStreamMs` — an endpoint whose stream is live but has sent no batch for
 * this long after a pick that must have stored new blocks is treated as not live (its matches
 * come from the approximate index) until a batch arrives.
 */
export const PrecisePrefixParams = z
  .object({
    tokenProcessorConfig: z
      .object({
        blockSize: z.number().int().positive().optional(),
        blockSizeTokens: z.number().int().positive().optional(),
        hashSeed: z.string().optional(),
        hashAlgorithm: z.string().optional(),
      })
      .strict()
      .optional(),
    indexerConfig: z
      .object({
        kvBlockIndexConfig: z.record(z.string(), z.unknown()).optional(),
        kvCacheBackendConfigs: z.array(z.object({ name: z.string().min(1), weight: z.number().min(0) }).strict()).optional(),
        tokenizersPoolConfig: z.record(z.string(), z.unknown()).optional(),
        speculativeIndexing: z.boolean().optional(),
      })
      .strict()
      .optional(),
    kvEventsConfig: z
      .object({
        zmqEndpoint: z.string().min(1).optional(),
        topicFilter: z.string().optional(),
        concurrency: z.number().int().positive().optional(),
        engineType: z.string().optional(),
        discoverPods: z.boolean().optional(),
        podDiscoveryConfig: z
          .object({ podLabelSelector: z.string().optional(), podNamespace: z.string().optional(), socketPort: port.optional(), replaySocketPort: port.optional() })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    speculativeIndexing: z.boolean().optional(),
    speculativeTTL: z
      .string()
      .regex(/^\d+(\.\d+)?(ms|s|m)$/, 'a duration like 500ms, 2s or 1m')
      .optional(),
    silentStreamMs: z.number().positive().default(10_000),
  })
  .strict();
export type PrecisePrefixParams = z.infer<typeof PrecisePrefixParams>;

/** Tier weights from `indexerConfig.kvCacheBackendConfigs` (names case-insensitive). */
export function tierWeights(p: PrecisePrefixParams): TierWeights {
  const w: TierWeights = { ...DEFAULT_TIER_WEIGHTS };
  let other: number | undefined;
  for (const b of p.indexerConfig?.kvCacheBackendConfigs ?? []) {
    const n = b.name.toLowerCase();
    if (n === 'gpu') w.gpu = b.weight;
    else if (n === 'cpu' || n === 'cpu_pinned') w.cpu = b.weight;
    else other = Math.max(other ?? 0, b.weight);
  }
  if (other !== undefined) w.other = other;
  return w;
}

/** Where a config says KV events come from (the first precise plugin that says anything). */
export interface KvEventsSettings {
  /** Bind address engines publish to (llm-d's `zmqEndpoint`). */
  bind?: string;
  /** Engines' PUB port to connect to (llm-d's `podDiscoveryConfig.socketPort`). */
  port?: number;
  replayPort?: number;
  topicFilter?: string;
}

const PRECISE_TYPES = new Set(['precise-prefix-cache-producer', 'precise-prefix-cache-scorer']);

/** The KV-event settings in an EndpointPickerConfig's precise plugins (empty when none). */
export function kvEventsSettings(config: EffectiveConfig): KvEventsSettings {
  for (const spec of config.plugins) {
    if (!PRECISE_TYPES.has(spec.type)) continue;
    const parsed = PrecisePrefixParams.safeParse(spec.parameters ?? {});
    if (!parsed.success) continue;
    const k = parsed.data.kvEventsConfig;
    if (!k) continue;
    const out: KvEventsSettings = {};
    if (k.zmqEndpoint !== undefined && k.discoverPods !== true) out.bind = k.zmqEndpoint;
    if (k.podDiscoveryConfig?.socketPort !== undefined) out.port = k.podDiscoveryConfig.socketPort;
    if (k.podDiscoveryConfig?.replaySocketPort !== undefined) out.replayPort = k.podDiscoveryConfig.replaySocketPort;
    if (k.topicFilter !== undefined) out.topicFilter = k.topicFilter;
    if (Object.keys(out).length) return out;
  }
  return {};
}

/** Whether the config names a precise plugin (it then needs router-side tokenization and KV events). */
export function usesPrecisePrefix(config: EffectiveConfig): boolean {
  return config.plugins.some((p) => PRECISE_TYPES.has(p.type));
}
