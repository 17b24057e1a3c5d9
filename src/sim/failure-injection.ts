import { FAILURE_TYPES, type FailureType } from './options.js';
import { openAIErrorBody, type OpenAIErrorBody } from '../shared/errors.js';

/** The injected failures and their wording, as llm-d-inference-sim produces them. */
export function injectedFailure(type: FailureType, model: string, maxModelLen: number): { status: number; body: OpenAIErrorBody } {
  switch (type) {
    case 'rate_limit':
      return { status: 429, body: openAIErrorBody(429, `Rate limit reached for ${model} in organization org-xxx on requests per min (RPM): Limit 3, Used 3, Requested 1.`, 'rate_limit_exceeded') };
    case 'invalid_api_key':
      return { status: 401, body: openAIErrorBody(401, 'Incorrect API key provided.', 'invalid_api_key') };
    case 'context_length':
      return {
        status: 400,
        body: openAIErrorBody(400, `This model's maximum context length is ${maxModelLen} tokens. However, your messages resulted in ${maxModelLen + 404} tokens.`, 'context_length_exceeded', 'messages'),
      };
    case 'server_error':
      return { status: 503, body: openAIErrorBody(503, 'The server is overloaded or not ready yet.', 'server_error') };
    case 'invalid_request':
      return { status: 400, body: openAIErrorBody(400, "Invalid request: missing required parameter 'model'.", 'invalid_request_error', 'model') };
    case 'model_not_found':
      return { status: 404, body: openAIErrorBody(404, `The model '${model}-nonexistent' does not exist`, 'model_not_found', 'model') };
  }
}

/** Draws whether to fail this request (rate in percent) and which way (uniform over the types). */
export function drawFailure(rate: number, types: readonly FailureType[], rng: () => number): FailureType | null {
  if (rate <= 0 || Math.floor(rng() * 100) + 1 > rate) return null;
  const pool = types.length ? types : FAILURE_TYPES;
  return pool[Math.floor(rng() * pool.length)];
}
