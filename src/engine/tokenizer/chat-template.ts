import type { ChatMessage } from '../types.js';
import { contentText, renderChatML as render } from '../../shared/chat/chat-text.js';

export { IM_START, IM_END } from '../../shared/chat/chat-text.js';

/** Text of a message's content (string or OpenAI content parts, text parts joined by "\n" as vLLM). */
export function messageText(content: ChatMessage['content']): string {
  return contentText(content);
}

/**
 * Qwen's ChatML rendering with the generation prompt appended (src/shared/chat/chat-text.ts):
 * the router renders chat requests the same way, so its prefix keys are the engine's text.
 */
export function renderChatML(messages: ChatMessage[]): string {
  return render(messages);
}
