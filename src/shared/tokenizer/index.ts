import { join } from 'node:path';
import { EstimateTokenizer } from './estimate.js';
import { loadHfTokenizer, qwenTokenizerDir } from './hf.js';
import { PrefixCachingTokenizer, type PrefixCacheOptions } from './prefix-cache.js';
import type { CutPointTokenizer } from './types.js';

export type { ChatMessage, Tokenizer, CutPointTokenizer } from './types.js';
export { EstimateTokenizer, ESTIMATE_OUTPUT_VOCAB } from './estimate.js';
export { renderChatML, contentText, IM_START, IM_END } from '../chat/chat-text.js';
export { HfTokenizer, loadHfTokenizer, qwenTokenizerDir } from './hf.js';
export { PrefixCachingTokenizer, type PrefixCacheOptions, type PrefixCacheStats } from './prefix-cache.js';

/**
 * The router-side tokenizer that gives the same ids as the engine behind it: `estimate` for
 * simulated fleets (kvgate sim's default), `qwen` for the shipped Qwen3 tokenizer, or a path to a
 * tokenizer.json. Async because real tokenizers take ~0.3 s to load.
 */
export async function createCutPointTokenizer(spec = 'estimate'): Promise<CutPointTokenizer> {
  if (spec === 'estimate') return new EstimateTokenizer();
  if (spec === 'qwen') return loadHfTokenizer(join(qwenTokenizerDir(), 'tokenizer.json'), 'qwen');
  return loadHfTokenizer(spec);
}

/** `createCutPointTokenizer` behind a prefix cache, so shared prefixes are tokenized once. */
export async function createRouterTokenizer(spec = 'estimate', cache: PrefixCacheOptions = {}): Promise<PrefixCachingTokenizer> {
  return new PrefixCachingTokenizer(await createCutPointTokenizer(spec), cache);
}
