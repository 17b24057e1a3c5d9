import { KvgateError, ErrorCode } from '../shared/errors.js';
import type { ChatMessage, Tokenizer } from '../engine/types.js';
import { messageText } from '../engine/index.js';

/** A validated completions or chat request, tokenized once. */
export interface CompletionRequest {
  kind: 'completions' | 'chat';
  model: string;
  promptTokenIds: number[];
  /** What echo mode repeats: the last user message or the prompt. */
  echoText: string;
  /** Tokens the client allows (null = not given). */
  maxTokens: number | null;
  ignoreEos: boolean;
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  cacheSalt?: string;
}

function bad(message: string, param: string): KvgateError {
  return new KvgateError(ErrorCode.InvalidRequest, message, { param });
}

function optionalPositiveInt(body: Record<string, unknown>, key: string): number | null {
  const v = body[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw bad(`${key} must be a positive integer`, key);
  return v;
}

function optionalBool(body: Record<string, unknown>, key: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad(`${key} must be a boolean`, key);
  return v;
}

export function parseCompletionRequest(kind: 'completions' | 'chat', body: Record<string, unknown>, tokenizer: Tokenizer): CompletionRequest {
  const model = body.model;
  if (typeof model !== 'string' || model.length === 0) {
    throw new KvgateError(ErrorCode.MissingModel, "Invalid request: missing required parameter 'model'.", { param: 'model' });
  }
  let promptTokenIds: number[];
  let echoText: string;
  if (kind === 'chat') {
    const messages = body.messages;
    if (!Array.isArray(messages) || messages.length === 0) throw bad('messages must be a non-empty array', 'messages');
    for (const [i, m] of messages.entries()) {
      if (!m || typeof m !== 'object' || typeof (m as ChatMessage).role !== 'string') {
        throw bad(`messages[${i}] must be an object with a string role`, 'messages');
      }
      const c: unknown = (m as ChatMessage).content;
      // As the OpenAI API: a string, null/absent (an assistant turn with tool calls), or content parts.
      const part = (p: unknown) => !!p && typeof p === 'object' && typeof (p as { type?: unknown }).type === 'string' && ((p as { type: string }).type !== 'text' || typeof (p as { text?: unknown }).text === 'string');
      if (!(c === undefined || c === null || typeof c === 'string' || (Array.isArray(c) && c.every(part)))) {
        throw bad(`messages[${i}].content must be a string or an array of content parts`, 'messages');
      }
    }
    const msgs = messages as ChatMessage[];
    promptTokenIds = tokenizer.encode(tokenizer.renderChat(msgs));
    const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
    echoText = messageText(lastUser?.content ?? msgs[msgs.length - 1].content);
  } else {
    let prompt = body.prompt;
    if (Array.isArray(prompt) && prompt.length === 1 && (typeof prompt[0] === 'string' || Array.isArray(prompt[0]))) prompt = prompt[0];
    if (typeof prompt === 'string') {
      promptTokenIds = tokenizer.encode(prompt);
      echoText = prompt;
    } else if (Array.isArray(prompt) && prompt.length > 0 && prompt.every((t) => Number.isInteger(t) && t >= 0)) {
      promptTokenIds = prompt as number[];
      echoText = tokenizer.decode(promptTokenIds);
    } else if (Array.isArray(prompt) && prompt.length > 1) {
      throw bad('the simulator serves one prompt per request; send batched prompts as separate requests', 'prompt');
    } else {
      throw bad('prompt must be a string or an array of token ids', 'prompt');
    }
    if (promptTokenIds.length === 0) throw bad('prompt must not be empty', 'prompt');
  }
  const maxTokens = optionalPositiveInt(body, 'max_completion_tokens') ?? optionalPositiveInt(body, 'max_tokens');
  const stream = optionalBool(body, 'stream');
  const so = body.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw bad('stream_options must be an object', 'stream_options');
  const streamOptions = (so ?? undefined) as { include_usage?: unknown; continuous_usage_stats?: unknown } | undefined;
  // vLLM: include_usage defaults to true once stream_options is present.
  const includeUsage = streamOptions ? streamOptions.include_usage !== false : false;
  const continuousUsage = streamOptions?.continuous_usage_stats === true;
  const cacheSalt = body.cache_salt;
  if (cacheSalt !== undefined && typeof cacheSalt !== 'string') throw bad('cache_salt must be a string', 'cache_salt');
  return {
    kind,
    model,
    promptTokenIds,
    echoText,
    maxTokens,
    ignoreEos: optionalBool(body, 'ignore_eos'),
    stream,
    includeUsage,
    continuousUsage,
    cacheSalt: cacheSalt as string | undefined,
  };
}
