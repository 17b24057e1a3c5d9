import type { Tokenizer } from '../types.js';
import { EstimateTokenizer } from './estimate.js';
import { loadQwenTokenizer, loadTokenizerJson } from './hf.js';

export { EstimateTokenizer, ESTIMATE_OUTPUT_VOCAB } from './estimate.js';
export { renderChatML, messageText } from './chat-template.js';

/**
 * `estimate` (default, fast), `qwen` (the real Qwen tokenizer), or a path to a tokenizer.json.
 * Real tokenizers load asynchronously (~0.7 s), so this is async for every kind.
 */
export async function createTokenizer(spec = 'estimate'): Promise<Tokenizer> {
  if (spec === 'estimate') return new EstimateTokenizer();
  if (spec === 'qwen') return loadQwenTokenizer();
  return loadTokenizerJson(spec);
}
