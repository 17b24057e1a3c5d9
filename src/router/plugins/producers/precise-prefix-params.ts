import { z } from 'zod';
import { DEFAULT_TIER_WEIGHTS, type TierWeights } from '../../prefix/exact-prefix-index.js';
import type { EffectiveConfig } from '../../config/config.js';
import type { ParameterReview } from '../types.js';

const port = z.number().int().min(1).max(65535);

/**
 * Parameters of llm-d's `precise-prefix-cache-producer` / `precise-prefix-cache-scorer`, by
 * llm-d's names, so its EndpointPickerConfigs load unchanged. What kvgate does with each:
 *
 * - `tokenProcessorConfig.blockSize` / `blockSizeTokens`, `hashSeed`, `hashAlgorithm` (also under
 *   `indexerConfig`, llm-d-kv-cache's older placement; the two disagreeing is an error): accepted,
 *   not needed — kvgate keys blocks by its own hash of their token ids and takes each engine's
 *   block size from its events, so it never reproduces vLLM's hash (seed, algorithm).
 * - `indexerConfig.prefixStoreConfig` (llm-d-kv-cache ≤ v0.5.0's tokenization prefix store): accepted.
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
const TokenProcessorConfig = z
  .object({
    blockSize: z.number().int().positive().optional(),
    blockSizeTokens: z.number().int().positive().optional(),
    hashSeed: z.string().optional(),
    hashAlgorithm: z.string().optional(),
  })
  .strict();

export const PrecisePrefixParams = z
  .object({
    tokenProcessorConfig: TokenProcessorConfig.optional(),
    indexerConfig: z
      .object({
        kvBlockIndexConfig: z.record(z.string(), z.unknown()).optional(),
        kvCacheBackendConfigs: z.array(z.object({ name: z.string().min(1), weight: z.number().min(0) }).strict()).optional(),
        tokenizersPoolConfig: z.record(z.string(), z.unknown()).optional(),
        speculativeIndexing: z.boolean().optional(),
        // llm-d-kv-cache's indexer Config held the token processor's settings in v0.2.0–v0.4.0 and
        // again in v0.7.0 (llm-d's own sample and e2e configs put them here).
        tokenProcessorConfig: TokenProcessorConfig.optional(),
        // llm-d-kv-cache v0.2.0–v0.5.0: the tokenization prefix store (an LRU of prompt-text
        // chunks, blockSize in bytes — not the KV block size), removed in v0.5.1.
        prefixStoreConfig: z.object({ cacheSize: z.number().int().positive().optional(), blockSize: z.number().int().positive().optional() }).strict().optional(),
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

/** The token processor's settings as llm-d reads them: `blockSizeTokens`, else the deprecated `blockSize`. */
export interface TokenProcessorSettings {
  blockSizeTokens?: number;
  hashSeed?: string;
  hashAlgorithm?: string;
}

type TokenProcessorConfig = z.infer<typeof TokenProcessorConfig>;

function settingsOf(t: TokenProcessorConfig | undefined): TokenProcessorSettings {
  return { blockSizeTokens: t?.blockSizeTokens ?? t?.blockSize, hashSeed: t?.hashSeed, hashAlgorithm: t?.hashAlgorithm };
}

/**
 * The token processor's settings from either placement — `tokenProcessorConfig` or
 * `indexerConfig.tokenProcessorConfig` — and the settings the two give differently (by name;
 * the block size counts as one setting whichever of blockSize / blockSizeTokens gives it).
 */
export function tokenProcessorSettings(p: PrecisePrefixParams): { settings: TokenProcessorSettings; conflicts: { key: keyof TokenProcessorSettings; top: string | number; nested: string | number }[] } {
  const top = settingsOf(p.tokenProcessorConfig);
  const nested = settingsOf(p.indexerConfig?.tokenProcessorConfig);
  const settings: TokenProcessorSettings = {};
  const conflicts: { key: keyof TokenProcessorSettings; top: string | number; nested: string | number }[] = [];
  for (const key of ['blockSizeTokens', 'hashSeed', 'hashAlgorithm'] as const) {
    const a = top[key];
    const b = nested[key];
    if (a !== undefined && b !== undefined && a !== b) conflicts.push({ key, top: a, nested: b });
    const v = a ?? b;
    if (v !== undefined) (settings as Record<string, string | number>)[key] = v;
  }
  return { settings, conflicts };
}

/** Where a token-processor setting sits in a tokenProcessorConfig (the block size: whichever field gave it). */
function fieldOf(t: TokenProcessorConfig | undefined, key: keyof TokenProcessorSettings): string {
  return key === 'blockSizeTokens' && t?.blockSizeTokens === undefined ? 'blockSize' : key;
}

const show = (v: string | number) => (typeof v === 'string' ? JSON.stringify(v) : String(v));

/**
 * Load-time review of precise-prefix parameters: the token processor set differently in its two
 * placements is an error; what kvgate takes from elsewhere or does not need is one warning.
 */
export function reviewPrecisePrefixParams(p: PrecisePrefixParams): ParameterReview {
  const { settings, conflicts } = tokenProcessorSettings(p);
  const errors = conflicts.map((c) => {
    const nestedField = fieldOf(p.indexerConfig?.tokenProcessorConfig, c.key);
    const topField = fieldOf(p.tokenProcessorConfig, c.key);
    return {
      path: `indexerConfig.tokenProcessorConfig.${nestedField}`,
      message: `${show(c.nested)} here but ${show(c.top)} in tokenProcessorConfig.${topField}: both places configure the same token processor (llm-d-kv-cache read it under indexerConfig in v0.2–v0.4 and v0.7, beside it otherwise); keep one, or give both the same value`,
    };
  });
  if (errors.length) return { errors };
  const notes: string[] = [];
  if (p.indexerConfig?.tokenProcessorConfig) notes.push("indexerConfig.tokenProcessorConfig is read as tokenProcessorConfig (llm-d-kv-cache v0.2–v0.4 and v0.7 kept it under indexerConfig)");
  const unused: string[] = [];
  const tp = [
    settings.blockSizeTokens !== undefined ? `block size ${settings.blockSizeTokens}` : undefined,
    settings.hashSeed !== undefined ? `hash seed ${show(settings.hashSeed)}` : undefined,
    settings.hashAlgorithm !== undefined ? `hash algorithm ${show(settings.hashAlgorithm)}` : undefined,
  ].filter((x) => x !== undefined);
  if (tp.length) unused.push(`the token processor's ${tp.join(', ')} (kvgate takes each engine's block size from its KV events and keys blocks by its own hash of their token ids)`);
  if (p.indexerConfig?.prefixStoreConfig) unused.push("indexerConfig.prefixStoreConfig (llm-d-kv-cache's tokenization prefix store, removed in its v0.5.1; kvgate tokenizes in-process)");
  const idx = (['tokenizersPoolConfig', 'kvBlockIndexConfig'] as const).filter((k) => p.indexerConfig?.[k] !== undefined);
  if (idx.length) unused.push(`${idx.map((k) => `indexerConfig.${k}`).join(', ')} (kvgate tokenizes in-process and keeps one in-memory index)`);
  const k = p.kvEventsConfig;
  const ev = [
    k?.concurrency !== undefined ? 'concurrency' : undefined,
    k?.engineType !== undefined ? 'engineType' : undefined,
    k?.podDiscoveryConfig?.podLabelSelector !== undefined ? 'podDiscoveryConfig.podLabelSelector' : undefined,
    k?.podDiscoveryConfig?.podNamespace !== undefined ? 'podDiscoveryConfig.podNamespace' : undefined,
  ].filter((x) => x !== undefined);
  if (ev.length) unused.push(`kvEventsConfig.${ev.length > 1 ? `{${ev.join(', ')}}` : ev[0]} (kvgate takes endpoints from its own pool source)`);
  if (unused.length) notes.push(`not used: ${unused.join('; ')}`);
  return notes.length ? { warnings: [notes.join('; ')] } : {};
}

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
