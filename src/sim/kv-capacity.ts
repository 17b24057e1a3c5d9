import { KvgateError, ErrorCode } from '../shared/errors.js';
import type { LatencyProfile } from '../engine/profiles.js';

/** The flags that size a simulated engine's context and KV cache; unset = the profile's. */
export interface KvCapacityFlags {
  maxModelLen?: number;
  kvCacheSize?: number;
  blockSize?: number;
}

/**
 * The max-model-len a simulated engine serves, checked against its KV cache as vLLM checks it at
 * startup: an engine whose cache cannot hold one request of max-model-len tokens does not start
 * (vLLM's ValueError "... max seq len ... is larger than the available KV cache ... decreasing
 * `max_model_len`"). A --max-model-len given over the cache is that error, naming the flags. The
 * profile's max-model-len is capped to the cache instead: that is the flag nobody gave, and
 * `--kv-cache-size` alone (kvgate up's cache pressure in one flag) must keep starting.
 */
export function servedMaxModelLen(flags: KvCapacityFlags, profile: LatencyProfile): number {
  const blocks = flags.kvCacheSize ?? profile.engine.numGpuBlocks;
  const blockSize = flags.blockSize ?? profile.engine.blockSize;
  const cacheTokens = blocks * blockSize;
  if (flags.maxModelLen === undefined) return Math.min(profile.engine.maxModelLen, cacheTokens);
  if (flags.maxModelLen <= cacheTokens) return flags.maxModelLen;
  const blocksFrom = flags.kvCacheSize === undefined ? `the profile's ${blocks} blocks (--kv-cache-size)` : `--kv-cache-size ${blocks} blocks`;
  const sizeFrom = flags.blockSize === undefined ? `the profile's ${blockSize} tokens per block (--block-size)` : `--block-size ${blockSize}`;
  throw new KvgateError(
    ErrorCode.InvalidConfig,
    `--max-model-len ${flags.maxModelLen} is larger than the ${cacheTokens} tokens the KV cache can store (${blocksFrom} × ${sizeFrom}), so not even one request of that length fits; vLLM refuses to start the same way: give --max-model-len ${cacheTokens} or less, or --kv-cache-size ${Math.ceil(flags.maxModelLen / blockSize)} or more`,
    { param: 'max-model-len' },
  );
}
