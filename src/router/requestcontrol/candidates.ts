import type { EndpointState, ServedModel } from '../api.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

/** vLLM's answer for a model it does not serve (404, "The model `X` does not exist."). */
export function modelNotFound(model: string): KvgateError {
  return new KvgateError(ErrorCode.ModelNotFound, `The model \`${model}\` does not exist.`, { param: 'model' });
}

/**
 * No ready endpoint can take the request (503 no_ready_endpoints, GIE's `rejected-no-endpoints`
 * drop reason). Always with Retry-After: the endpoints come back, and OpenAI SDKs retry a 503.
 */
export function noReadyEndpoints(message = 'failed to find endpoint candidates: no ready endpoint serves this request'): KvgateError {
  return new KvgateError(ErrorCode.NoCandidates, message, { headers: { 'retry-after': '1', 'x-llm-d-request-dropped-reason': 'rejected-no-endpoints' } });
}

/** Whether the endpoint lists `model` (a base model or an adapter) or reports it as a running/waiting LoRA. */
export function servesModel(e: EndpointState, model: string): boolean {
  if (e.models?.some((m: ServedModel) => m.id === model)) return true;
  const m = e.metrics;
  return m !== undefined && (m.activeLoras.includes(model) || m.waitingLoras.includes(model));
}
