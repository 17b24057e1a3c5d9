import type { ChatMessage } from '../types.js';
import { contentText, renderChatML as render, IM_END, IM_START } from '../../shared/chat/chat-text.js';

export { IM_START, IM_END } from '../../shared/chat/chat-text.js';

/** Text of a message's content (string or OpenAI content parts, text parts joined by "\n" as vLLM). */
export function messageText(content: ChatMessage['content']): string {
  return contentText(content);
}

/** vLLM's chat-template switches (ChatCompletionRequest.add_generation_prompt / continue_final_message). */
export interface ChatRenderOptions {
  /** Append the assistant turn opener (default true). */
  addGenerationPrompt?: boolean;
  /** Leave the last message open (no end marker) so the model continues it. */
  continueFinalMessage?: boolean;
  /** The request's `tools`, rendered ahead of the messages (src/shared/chat/chat-text.ts). */
  tools?: unknown;
}

const GENERATION_PROMPT = `${IM_START}assistant\n`;
const TURN_END = `${IM_END}\n`;

/**
 * Qwen's ChatML rendering (src/shared/chat/chat-text.ts; the router renders chat requests the same
 * way, so its prefix keys are the engine's text), by default with the generation prompt appended.
 * Without it, or continuing the final message (its end marker dropped too), the text is the same
 * rendering cut short, since a turn's rendering never depends on what follows it.
 */
export function renderChatML(messages: ChatMessage[], opts: ChatRenderOptions = {}): string {
  let out = render(messages, opts.tools);
  if (opts.addGenerationPrompt !== false && !opts.continueFinalMessage) return out;
  out = out.slice(0, out.length - GENERATION_PROMPT.length);
  if (opts.continueFinalMessage && out.endsWith(TURN_END)) out = out.slice(0, out.length - TURN_END.length);
  return out;
}
