import type { RouteRequest } from './api.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { parseJsonBody } from '../shared/http.js';
import { OBJECTIVE_HEADERS, type Objectives } from './objectives.js';

export interface ParseOptions {
  requestId?: string;
  /** Lower-cased request headers. */
  headers?: Record<string, string | string[] | undefined>;
  /** Honour priority/objective headers (only when the operator trusts the clients). */
  trustRoutingHeaders?: boolean;
  /** Priority of requests that name no objective (or an undefined one). */
  defaultPriority?: number;
  /** InferenceObjective name → priority, for the objective headers. */
  objectives?: Objectives;
}

let counter = 0;
const prefix = Math.random().toString(36).slice(2, 8);

function header(h: ParseOptions['headers'], name: string): string | undefined {
  const v = h?.[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Parses an OpenAI request body once into what the router needs. The JSON object is returned too
 * so the ingress never parses twice. Throws KvgateError 400s (invalid JSON, missing model, bad shape).
 */
export function parseOpenAIRequest(path: string, body: Buffer, opts: ParseOptions = {}): { route: RouteRequest; json: Record<string, unknown> } {
  const obj = parseJsonBody(body);
  const model = obj.model;
  if (typeof model !== 'string' || model.length === 0) {
    throw new KvgateError(ErrorCode.MissingModel, 'model not found in request body', { param: 'model' });
  }
  const api: RouteRequest['api'] = path.endsWith('/chat/completions') ? 'chat' : path.endsWith('/completions') ? 'completions' : 'other';
  let prefixText = '';
  if (api === 'chat') {
    if (!Array.isArray(obj.messages)) throw new KvgateError(ErrorCode.InvalidRequest, 'messages must be an array', { param: 'messages' });
    prefixText = JSON.stringify(obj.messages);
  } else if (api === 'completions') {
    const p = obj.prompt;
    if (typeof p === 'string') prefixText = p;
    else if (Array.isArray(p)) prefixText = p.every((x) => typeof x === 'string') ? p.join('') : JSON.stringify(p);
    else if (p !== undefined) throw new KvgateError(ErrorCode.InvalidRequest, 'prompt must be a string or an array', { param: 'prompt' });
  }
  const maxTokens = obj.max_completion_tokens ?? obj.max_tokens;
  const headers = opts.headers;
  let priority = opts.defaultPriority ?? 0;
  if (opts.trustRoutingHeaders) {
    const objective = header(headers, OBJECTIVE_HEADERS[0]) ?? header(headers, OBJECTIVE_HEADERS[1]);
    const fromObjective = objective === undefined ? undefined : opts.objectives?.get(objective);
    if (fromObjective !== undefined) priority = fromObjective;
    // An explicit numeric priority is kvgate's own header and wins over the objective.
    const p = header(headers, 'x-kvgate-priority');
    if (p !== undefined && Number.isFinite(Number(p))) priority = Number(p);
  }
  const route: RouteRequest = {
    id: opts.requestId ?? header(headers, 'x-request-id') ?? `${prefix}-${(counter++).toString(36)}`,
    model,
    api,
    prefixText,
    promptTokens: Math.ceil(prefixText.length / 4),
    maxTokens: typeof maxTokens === 'number' ? maxTokens : undefined,
    stream: obj.stream === true,
    priority,
    sessionId: header(headers, 'x-session-id'),
    cacheSalt: typeof obj.cache_salt === 'string' ? obj.cache_salt : undefined,
  };
  return { route, json: obj };
}
