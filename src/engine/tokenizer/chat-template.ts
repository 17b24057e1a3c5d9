import type { ChatMessage } from '../types.js';

export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';

/** Text of a message's content (string or OpenAI content parts). */
export function messageText(content: ChatMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (typeof p?.text === 'string' ? p.text : '')).join('');
}

/** vLLM's chat-template switches (ChatCompletionRequest.add_generation_prompt / continue_final_message). */
export interface ChatRenderOptions {
  /** Append the assistant turn opener (default true). */
  addGenerationPrompt?: boolean;
  /** Leave the last message open (no end marker) so the model continues it. */
  continueFinalMessage?: boolean;
}

/**
 * Qwen's ChatML rendering, by default with the generation prompt appended. Used for every
 * tokenizer so a second chat turn re-renders the first turn byte for byte (which is what lets it
 * hit the first turn's cached prompt and reply blocks, as in vLLM).
 */
export function renderChatML(messages: ChatMessage[], opts: ChatRenderOptions = {}): string {
  let out = '';
  const last = messages.length - 1;
  for (let i = 0; i <= last; i++) {
    const m = messages[i];
    out += `${IM_START}${m.role}\n${messageText(m.content)}`;
    if (!(i === last && opts.continueFinalMessage)) out += `${IM_END}\n`;
  }
  return opts.addGenerationPrompt === false || opts.continueFinalMessage ? out : out + `${IM_START}assistant\n`;
}
