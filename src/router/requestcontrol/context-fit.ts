import type { EndpointState } from '../api.js';
import { contextLengthError } from '../../shared/context-length.js';

/**
 * The context window (tokens) of `e`'s engine, from its `/v1/models` (vLLM's `max_model_len`):
 * the entry of `model`, else any entry's — an engine has one window, which its LoRA adapters
 * share. Undefined while the endpoint's list is unknown or names no window (not vLLM).
 */
export function maxModelLenOf(e: EndpointState, model: string): number | undefined {
  const models = e.models;
  if (models === undefined) return undefined;
  let any: number | undefined;
  for (const m of models) {
    if (m.maxModelLen === undefined) continue;
    if (m.id === model) return m.maxModelLen;
    any ??= m.maxModelLen;
  }
  return any;
}

/**
 * The candidates a request fits, by vLLM's rule (shared/context-length.ts: the prompt leaves room
 * for one token, and prompt + max_tokens fits when max_tokens is given) on the router's prompt
 * token count (the ingress's estimate, or exact ids). In a fleet whose replicas serve one model
 * with different `--max-model-len`, a long request then goes only where the engine will take it,
 * not round the fleet collecting 400s. An endpoint whose window is unknown is kept (it may fit).
 *
 * When it fits none, the candidates with the largest window are returned: the engine there
 * answers with vLLM's own 400 body (its exact count, its words), and a prompt the estimate
 * overcounted is still served. Returns `candidates` itself when every one fits (the common case:
 * no allocation on the request path).
 */
export function fittingCandidates(candidates: EndpointState[], model: string, promptTokens: number, maxTokens: number | undefined): EndpointState[] {
  let fit: EndpointState[] | undefined;
  for (let i = 0; i < candidates.length; i++) {
    const len = maxModelLenOf(candidates[i], model);
    const fits = len === undefined || contextLengthError(len, promptTokens, maxTokens ?? null) === undefined;
    if (fit) {
      if (fits) fit.push(candidates[i]);
    } else if (!fits) fit = candidates.slice(0, i);
  }
  if (fit === undefined) return candidates;
  if (fit.length > 0) return fit;
  let largest = 0;
  for (const e of candidates) largest = Math.max(largest, maxModelLenOf(e, model) ?? 0);
  return candidates.filter((e) => maxModelLenOf(e, model) === largest);
}

/**
 * The window of `e` when a 400 from it may be vLLM's context-length refusal of a request the
 * router's estimate put inside that window, else undefined. The estimate (~4 characters a token)
 * undercounts text that tokenizes near one token a character (newline-heavy, CJK) by up to 4×, so
 * a request whose estimated need (prompt + max_tokens) is at least a quarter of the window may not
 * fit after all; a 400 for a shorter request is some other bad input, answered as it is.
 */
export function mayHaveOutgrown(e: EndpointState | undefined, model: string, promptTokens: number, maxTokens: number | undefined): number | undefined {
  const len = e && maxModelLenOf(e, model);
  return len !== undefined && (promptTokens + (maxTokens ?? 0)) * 4 >= len ? len : undefined;
}
