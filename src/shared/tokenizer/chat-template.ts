import type { ChatMessage } from './types.js';

export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';

/** Text of a message's content (string or OpenAI content parts). */
export function messageText(content: ChatMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
}

/**
 * Qwen's ChatML rendering with the generation prompt appended. Used for every tokenizer so a
 * second chat turn re-renders the first turn byte for byte (which is what lets it hit the
 * first turn's cached prompt and reply blocks, as in vLLM).
 */
export function renderChatML(messages: ChatMessage[]): string {
  let out = '';
  for (const m of messages) out += `${IM_START}${m.role}\n${messageText(m.content)}${IM_END}\n`;
  return out + `${IM_START}assistant\n`;
}
