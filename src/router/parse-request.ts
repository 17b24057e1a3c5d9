import type { RouteRequest } from './api.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { parseJsonBody } from '../shared/http.js';
import { pydanticBool } from '../shared/pydantic-bool.js';
import { pydanticInt } from '../shared/pydantic-int.js';
import { assertJsonDepth } from '../shared/json-depth.js';
import type { ChatMessageLike } from '../shared/chat/chat-text.js';
import { OBJECTIVE_HEADERS, type Objectives } from './objectives.js';
import { PRIORITY_HEADER, PRIORITY_RULE, parsePriority } from './priority.js';
import { ChatTemplates } from './prompt/chat-templates.js';

export interface ParseOptions {
  /** kvgate's own unique id for this request (never the client's x-request-id). */
  requestId: string;
  /** Lower-cased request headers. */
  headers?: Record<string, string | string[] | undefined>;
  /** Honour priority/objective headers (only when the operator trusts the clients). */
  trustRoutingHeaders?: boolean;
  /** Priority of requests that name no objective (or an undefined one). */
  defaultPriority?: number;
  /** InferenceObjective name → priority, for the objective headers. */
  objectives?: Objectives;
  /** Chat templates per model; without one, kvgate's canonical ChatML rendering. */
  chatTemplates?: ChatTemplates;
}

const DEFAULT_TEMPLATES = new ChatTemplates();

function header(h: ParseOptions['headers'], name: string): string | undefined {
  const v = h?.[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The media type check of vLLM's OpenAI server (`validate_json_request`): anything but
 * `application/json` (parameters such as charset allowed) is a 400 with vLLM's message.
 */
export function assertJsonContentType(contentType: string | undefined): void {
  if (contentType === 'application/json') return; // what nearly every client sends: no string work per request
  const media = (contentType ?? '').split(';', 1)[0].trim().toLowerCase();
  if (media !== 'application/json') {
    throw new KvgateError(ErrorCode.InvalidRequest, "Unsupported Media Type: Only 'application/json' is allowed", { param: 'content-type' });
  }
}

/** The shape errors below are worded as kvgate sim words them (src/sim/completion-request.ts), so a client gets the same body through the gateway as from a replica. */
const PROMPT_SHAPE = 'prompt must be a string, a list of strings, a list of token ids or a list of token-id lists';

/**
 * The text prefix affinity is computed over: for chat, the rendered conversation (the model's
 * chat template or the canonical ChatML, see prompt/chat-templates.ts); for completions, the
 * prompt — the first one of a batch (vLLM serves a list of prompts as separate sequences, and a
 * batch routes with its first), token ids as their JSON text.
 */
function promptText(api: RouteRequest['api'], obj: Record<string, unknown>, templates: ChatTemplates, model: string): string {
  if (api === 'chat') {
    const messages = obj.messages;
    if (!Array.isArray(messages)) throw new KvgateError(ErrorCode.InvalidRequest, 'messages must be a non-empty array', { param: 'messages' });
    for (let i = 0; i < messages.length; i++) {
      const m: unknown = messages[i];
      if (m === null || typeof m !== 'object' || Array.isArray(m) || typeof (m as { role?: unknown }).role !== 'string') {
        throw new KvgateError(ErrorCode.InvalidRequest, `messages[${i}] must be an object with a string role`, { param: 'messages' });
      }
    }
    return templates.render(model, messages as ChatMessageLike[], obj.tools);
  }
  if (api === 'completions') {
    const p = obj.prompt;
    if (typeof p === 'string') return p;
    if (Array.isArray(p)) {
      if (p.length === 0) return '';
      const first: unknown = p[0];
      if (typeof first === 'string') return first;
      if (typeof first === 'number') return JSON.stringify(p);
      if (Array.isArray(first)) return JSON.stringify(first);
      throw new KvgateError(ErrorCode.InvalidRequest, PROMPT_SHAPE, { param: 'prompt' });
    }
    if (p !== undefined && p !== null) throw new KvgateError(ErrorCode.InvalidRequest, PROMPT_SHAPE, { param: 'prompt' });
  }
  return '';
}

/** The completions prompt's token ids when the client sent ids (the first prompt of a batch), else undefined. */
function promptIds(p: unknown): number[] | undefined {
  const first: unknown = Array.isArray(p) && Array.isArray(p[0]) ? p[0] : p;
  if (!Array.isArray(first) || first.length === 0) return undefined;
  for (const t of first) if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0xffffffff) return undefined;
  return first as number[];
}

/**
 * Whether the client asked for the final usage chunk, read as vLLM reads it: `StreamOptions.include_usage`
 * defaults to True once `stream_options` is there, so `{}` or `{"continuous_usage_stats":true}` ask
 * for it, and only a false (pydantic's lax bool: `false`, `0`, `"no"`, `"off"`…) or null (None)
 * does not. The lifecycle injects include_usage into the other streams and strips the chunk
 * again, so reading too little here took away a chunk the client asked for, and reading `"no"`
 * as asked left the client a chunk it had declined. A value pydantic cannot read as a bool
 * counts as asked: nothing is injected or stripped and the engine refuses it (400), as directly.
 */
function usageRequested(streamOptions: unknown): boolean {
  if (streamOptions === null || typeof streamOptions !== 'object' || Array.isArray(streamOptions)) return false;
  const v = (streamOptions as { include_usage?: unknown }).include_usage;
  return v !== null && pydanticBool(v) !== false; // absent: undefined, asked
}

/**
 * The output-length hint (tokens) for context-window fit: `max_completion_tokens`, else
 * `max_tokens`, each read as vLLM's pydantic models read an int field (lax: `"10"`, `"1_000"`,
 * `"10.0"`, `true`; shared/pydantic-int.ts), so a string the engine accepts is the same hint as the
 * number. null or absent falls to the other field. A value pydantic refuses (`"1.5"`, `"abc"`) is
 * no hint: the body goes upstream unchanged and the engine answers it 400, as it would directly.
 */
function maxTokensHint(obj: Record<string, unknown>): number | undefined {
  const completion = pydanticInt(obj.max_completion_tokens);
  const n = completion === undefined ? pydanticInt(obj.max_tokens) : completion;
  return typeof n === 'number' ? n : undefined;
}

/**
 * The trusted priority header's value. A value that is not a priority is the client's mistake and
 * gets a 400 naming the header, rather than a guess (0, or a fraction no InferenceObjective can have).
 */
function headerPriority(value: string): number {
  const n = parsePriority(value);
  if (n === undefined) {
    const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
    throw new KvgateError(ErrorCode.InvalidRequest, `${PRIORITY_HEADER} must be ${PRIORITY_RULE} (got ${JSON.stringify(shown)})`, { param: PRIORITY_HEADER });
  }
  return n;
}

/**
 * Parses an OpenAI request body once into what the router needs; the JSON object is returned too
 * so nothing parses twice. Checks nesting depth before parsing (see shared/json-depth.ts).
 * Throws KvgateError 400s: invalid JSON, too deep, missing model, bad shape.
 */
export function parseOpenAIRequest(path: string, body: Buffer, opts: ParseOptions): { route: RouteRequest; json: Record<string, unknown> } {
  assertJsonDepth(body);
  const obj = parseJsonBody(body);
  const model = obj.model;
  // vLLM's protocol types model as a string: a number is a bad request, not a missing model.
  if (model !== undefined && model !== null && typeof model !== 'string') throw new KvgateError(ErrorCode.InvalidRequest, 'model must be a string', { param: 'model' });
  if (typeof model !== 'string' || model.length === 0) {
    throw new KvgateError(ErrorCode.MissingModel, 'model not found in request body', { param: 'model' });
  }
  const api: RouteRequest['api'] = path.endsWith('/chat/completions') ? 'chat' : path.endsWith('/completions') ? 'completions' : 'other';
  const prefixText = promptText(api, obj, opts.chatTemplates ?? DEFAULT_TEMPLATES, model);
  const headers = opts.headers;
  let priority = opts.defaultPriority ?? 0;
  if (opts.trustRoutingHeaders) {
    const objective = header(headers, OBJECTIVE_HEADERS[0]) ?? header(headers, OBJECTIVE_HEADERS[1]);
    const fromObjective = objective === undefined ? undefined : opts.objectives?.get(objective);
    if (fromObjective !== undefined) priority = fromObjective;
    // An explicit numeric priority is kvgate's own header and wins over the objective.
    const p = header(headers, PRIORITY_HEADER);
    if (p !== undefined) priority = headerPriority(p);
  }
  const ids = api === 'completions' ? promptIds(obj.prompt) : undefined;
  const route: RouteRequest = {
    id: opts.requestId,
    clientRequestId: header(headers, 'x-request-id'),
    model,
    api,
    prefixText,
    promptTokens: ids ? ids.length : Math.ceil(prefixText.length / 4),
    ...(ids ? { promptTokenIds: ids } : {}),
    maxTokens: maxTokensHint(obj),
    // As vLLM's pydantic model reads `stream` (lax: "yes", "true", 1… stream): routing, timeouts
    // and usage then treat the request as the stream the engine will send.
    stream: pydanticBool(obj.stream) === true,
    includeUsage: usageRequested(obj.stream_options),
    priority,
    sessionId: header(headers, 'x-session-id'),
    cacheSalt: typeof obj.cache_salt === 'string' ? obj.cache_salt : undefined,
  };
  return { route, json: obj };
}
