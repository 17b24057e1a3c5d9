import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { SimEngine } from '../engine/index.js';
import type { Tokenizer } from '../engine/types.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { pydanticBool } from '../shared/pydantic-bool.js';
import { sendJson } from '../shared/http.js';
import { parseCompletionRequest, type ParseLimits } from './completion-request.js';
import type { LoraRegistry } from './lora.js';
import type { SimOptions } from './options.js';

/** What the model-level endpoints need from the server. */
export interface ModelEndpointContext {
  options: SimOptions;
  engine: SimEngine;
  tokenizer: Tokenizer;
  loras: LoraRegistry;
  servedNames: string[];
  maxModelLen: number;
  parseLimits: ParseLimits;
  startedAt: number;
  idPrefix: string;
  requireJson(req: IncomingMessage): void;
  readJson(req: IncomingMessage, limit?: number): Promise<Record<string, unknown>>;
  responseHeaders(requestId: string): Record<string, string>;
}

/**
 * The endpoints about the model rather than one generation: /v1/models, LoRA load/unload,
 * tokenize/detokenize, render, and vLLM's sleep mode.
 */
export function modelEndpoints(ctx: ModelEndpointContext) {
  const { options, engine, tokenizer, loras, servedNames, maxModelLen, parseLimits } = ctx;
  const baseName = servedNames[0];

  function modelCard(id: string, root: string, parent: string | null, maxLen: number | null) {
    const created = Math.floor(ctx.startedAt / 1000);
    return {
      id,
      object: 'model',
      created,
      owned_by: 'vllm',
      root,
      parent,
      max_model_len: maxLen,
      permission: [
        {
          id: `modelperm-${ctx.idPrefix}`,
          object: 'model_permission',
          created,
          allow_create_engine: false,
          allow_sampling: true,
          allow_logprobs: true,
          allow_search_indices: false,
          allow_view: true,
          allow_fine_tuning: false,
          organization: '*',
          group: null,
          is_blocking: false,
        },
      ],
    };
  }

  /**
   * vLLM's `_check_model` for /tokenize and /detokenize: `model` may be left out (the served
   * model), else it must be a served name or a loaded LoRA adapter. Throws 400 for a non-string
   * model, 404 (vLLM's wording) for an unknown one.
   */
  function checkOptionalModel(model: unknown): void {
    if (model === undefined || model === null || model === '') return;
    if (typeof model !== 'string') throw new KvgateError(ErrorCode.InvalidRequest, 'model must be a string', { param: 'model' });
    if (servedNames.includes(model) || loras.get(model)) return;
    throw new KvgateError(ErrorCode.ModelNotFound, `The model \`${model}\` does not exist.`, { param: 'model' });
  }

  /** A bool request field read as vLLM's pydantic models read it ("yes", 1… are true; see pydanticBool), or 400 naming it. */
  function optionalBoolField(body: Record<string, unknown>, field: string): boolean | undefined {
    const v = pydanticBool(body[field]);
    if (v === 'invalid') throw new KvgateError(ErrorCode.InvalidRequest, `${field} must be a boolean`, { param: field });
    return v;
  }

  return {
    /** vLLM's ModelList: served names, then LoRA adapters (root = their path, parent = their base model or the first served name). */
    models(res: ServerResponse): void {
      sendJson(res, 200, {
        object: 'list',
        data: [
          ...servedNames.map((n) => modelCard(n, options.model, null, maxModelLen)),
          ...loras.list().map((a) => modelCard(a.name, a.path, a.base_model_name ?? baseName, null)),
        ],
      });
    },

    /** /v1/completions/render and /v1/chat/completions/render: the request's token ids, no generation. */
    async render(req: IncomingMessage, res: ServerResponse, kind: 'completions' | 'chat'): Promise<void> {
      ctx.requireJson(req);
      const body = await ctx.readJson(req);
      const model = typeof body.model === 'string' ? body.model : '';
      if (!servedNames.includes(model)) {
        if (loras.get(model)) throw new KvgateError(ErrorCode.InvalidRequest, `The model \`${model}\` is a LoRA adapter and is not supported by the render endpoints.`, { param: 'model' });
        throw new KvgateError(ErrorCode.ModelNotFound, `The model \`${model}\` does not exist.`, { param: 'model' });
      }
      const cr = parseCompletionRequest(kind, { model, prompt: body.prompt, messages: body.messages, tools: body.tools }, tokenizer, parseLimits);
      const out = kind === 'chat' ? { token_ids: cr.prompts[0].tokenIds } : cr.prompts.map((p) => ({ token_ids: p.tokenIds }));
      const header = req.headers['x-request-id'];
      sendJson(res, 200, out, ctx.responseHeaders((typeof header === 'string' && header) || randomUUID()));
    },

    async tokenize(req: IncomingMessage, res: ServerResponse): Promise<void> {
      ctx.requireJson(req);
      const body = await ctx.readJson(req);
      checkOptionalModel(body.model);
      optionalBoolField(body, 'add_special_tokens');
      const returnStrs = optionalBoolField(body, 'return_token_strs') === true;
      let tokens: number[];
      let pieces: string[] | undefined;
      if (Array.isArray(body.messages)) {
        const cr = parseCompletionRequest('chat', { ...body, model: body.model || servedNames[0] }, tokenizer, parseLimits);
        tokens = cr.prompts[0].tokenIds;
        pieces = cr.prompts[0].pieces;
      } else if (typeof body.prompt === 'string') {
        tokens = tokenizer.encode(body.prompt);
        pieces = tokenizer.splitPieces?.(body.prompt);
      } else throw new KvgateError(ErrorCode.InvalidRequest, 'tokenize needs a string prompt or a messages array', { param: 'prompt' });
      const strs = returnStrs ? pieces ?? tokens.map((t) => tokenizer.decode([t])) : null;
      sendJson(res, 200, { count: tokens.length, max_model_len: maxModelLen, tokens, token_strs: strs });
    },

    async detokenize(req: IncomingMessage, res: ServerResponse): Promise<void> {
      ctx.requireJson(req);
      const body = await ctx.readJson(req);
      checkOptionalModel(body.model);
      const t = body.tokens;
      if (!Array.isArray(t) || !t.every((x) => Number.isInteger(x) && x >= 0)) throw new KvgateError(ErrorCode.InvalidRequest, 'tokens must be a list of token ids', { param: 'tokens' });
      sendJson(res, 200, { prompt: tokenizer.decode(t as number[]) });
    },

    /** vLLM's /v1/load_lora_adapter and /v1/unload_lora_adapter: plain-text success, vLLM's errors. */
    async lora(req: IncomingMessage, res: ServerResponse, op: 'load' | 'unload'): Promise<void> {
      ctx.requireJson(req);
      const body = await ctx.readJson(req, 64 * 1024);
      const text = op === 'load' ? loras.load(body) : loras.unload(body);
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) }).end(text);
    },

    /** vLLM's /sleep (level 1 or 2); as llm-d-inference-sim, a no-op (still 200) without --enable-sleep-mode and VLLM_SERVER_DEV_MODE=1. */
    sleep(_req: IncomingMessage, res: ServerResponse, q: URLSearchParams): void {
      const level = Number(q.get('level') ?? '1');
      if (level !== 1 && level !== 2) throw new KvgateError(ErrorCode.InvalidRequest, `sleep level must be 1 or 2 (got ${q.get('level')})`, { param: 'level' });
      if (options.enableSleepMode && options.vllmServerDevMode) engine.sleep(level);
      res.writeHead(200, { 'content-length': 0 }).end();
    },

    /** /wake_up: awake; the prefix cache comes back with no tags or tags=kv_cache (llm-d-inference-sim). */
    wakeUp(_req: IncomingMessage, res: ServerResponse, q: URLSearchParams): void {
      const tags = q.getAll('tags');
      engine.wakeUp(tags.length === 0 || tags.includes('kv_cache'));
      res.writeHead(200, { 'content-length': 0 }).end();
    },
  };
}
