/**
 * vLLM's context-window check of one request, in its words (serving_engine's
 * `_validate_input`): a prompt of `promptTokens` must leave room for at least one token, and with
 * `maxTokens` given, prompt + max_tokens must fit in `maxModelLen`. Returns the 400 message when
 * the request does not fit, with which field is at fault, else undefined. Shared by `kvgate sim`
 * and `kvgate simulate`'s replicas, so a simulated report reads as a real run's would, and by the
 * router, which sends a request only to replicas whose max_model_len it fits.
 */
export function contextLengthError(maxModelLen: number, promptTokens: number, maxTokens: number | null): { message: string; field: 'prompt' | 'max_tokens' } | undefined {
  if (promptTokens >= maxModelLen) {
    return { field: 'prompt', message: `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens} tokens in the messages, Please reduce the length of the messages.` };
  }
  if (maxTokens !== null && promptTokens + maxTokens > maxModelLen) {
    return {
      field: 'max_tokens',
      message: `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${promptTokens + maxTokens} tokens (${promptTokens} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
    };
  }
  return undefined;
}
