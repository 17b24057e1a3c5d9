import type { EndpointState, ServedModel } from '../api.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

/** vLLM's answer for a model it does not serve (404, "The model `X` does not exist."). */
export function modelNotFound(model: string): KvgateError {
  return new KvgateError(ErrorCode.ModelNotFound, `The model \`${model}\` does not exist.`, { param: 'model' });
}

/** Whether the endpoint lists `model` (a base model or an adapter) or reports it as a running/waiting LoRA. */
export function servesModel(e: EndpointState, model: string): boolean {
  if (e.models?.some((m: ServedModel) => m.id === model)) return true;
  const m = e.metrics;
  return m !== undefined && (m.activeLoras.includes(model) || m.waitingLoras.includes(model));
}
