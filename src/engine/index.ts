export type * from './types.js';
export { createEngine, SimEngine, type EngineOptions } from './engine.js';
export { loadProfile, listProfiles, BLOCK_SIZES, stepDurationMs, DEFAULT_PROFILE, type LatencyProfile, type LatencyModel } from './profiles.js';
export { createTokenizer, EstimateTokenizer, ESTIMATE_OUTPUT_VOCAB, renderChatML, messageText } from './tokenizer/index.js';
export { RealClock, VirtualClock } from './clock.js';
export { hashBlocks, rootHash, hashBlock, type BlockHashContext } from '../shared/hashing/block-hash.js';
export { BlockPool } from './block-pool.js';
export { MAX_KV_BLOCKS, MAX_REPLICAS, MAX_FLEET_KV_BLOCKS, KV_BLOCK_BYTES, describeBlockLimit } from './limits.js';
