// ChatML rendering lives in shared/ so the router renders chats exactly as the simulated engine.
export { IM_START, IM_END, messageText, renderChatML } from '../../shared/tokenizer/chat-template.js';
