import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createEngine, createTokenizer, loadProfile, RealClock, type SimEngine } from '../engine/index.js';
import type { RequestOutcome, Tokenizer } from '../engine/types.js';
import { createRng } from '../shared/rng.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { VERSION } from '../shared/version.js';
import { SimOptionsSchema, RuntimeConfigSchema, type SimOptions, type SimOptionsInput, type RuntimeConfigPatch } from './options.js';
import { readBody, sendJson, sendError, parseJsonBody } from '../shared/http.js';
import { SimMetrics } from './metrics.js';
import { KvEventPublisher } from './kv-event-publisher.js';
import { parseCompletionRequest, type CompletionRequest } from './completion-request.js';
import { drawFailure, injectedFailure } from './failure-injection.js';

export interface RunningSim {
  url: string;
  host: string;
  port: number;
  options: SimOptions;
  engine: SimEngine;
  /** Applies a runtime configuration patch (same as POST /admin/config). */
  setConfig(patch: RuntimeConfigPatch): void;
  close(): Promise<void>;
}

const FILLER = 'The quick brown fox jumps over the lazy dog while the sun sets behind distant hills. ';

/** Validates options, naming the offending field (in CLI spelling) on error. */
export function parseSimOptions(input: SimOptionsInput): SimOptions {
  const r = SimOptionsSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.map(String).join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  throw new KvgateError(ErrorCode.InvalidConfig, `invalid --${field || 'option'}: ${issue.message}`, { param: field });
}

/** Starts one vLLM-compatible simulated model server. `port: 0` picks a free port. */
export async function startSimServer(input: SimOptionsInput = {}, opts: { logger?: Logger } = {}): Promise<RunningSim> {
  const options = parseSimOptions(input);
  const logger = opts.logger ?? silentLogger();
  const profile = loadProfile(options.profile);
  const maxModelLen = options.maxModelLen ?? profile.engine.maxModelLen;
  const engine = createEngine({
    profile,
    clock: new RealClock(),
    seed: options.seed,
    blockSize: options.blockSize,
    kvCacheSize: options.kvCacheSize,
    maxNumSeqs: options.maxNumSeqs,
    maxNumBatchedTokens: options.maxNumBatchedTokens,
    maxModelLen,
    enablePrefixCaching: options.enablePrefixCaching,
    modelName: options.model,
    kvEvents: Boolean(options.kvEventsEndpoint),
  });
  const applyLatencyOverrides = (ttft?: number, itl?: number) => {
    if (itl !== undefined) engine.setLatency({ stepBaseMs: itl, decodeMsPerSeq: 0, contextMsPerToken: 0 });
    if (ttft !== undefined) {
      const base = itl ?? engine.latencyModel.stepBaseMs;
      engine.setLatency({ prefillOverheadMs: Math.max(0, ttft - base), prefillMsPerToken: 0 });
    }
  };
  applyLatencyOverrides(options.timeToFirstToken, options.interTokenLatency);
  const tokenizer: Tokenizer = await createTokenizer(options.tokenizer);
  const fillerIds = tokenizer.name === 'estimate' ? null : tokenizer.encode(FILLER.repeat(8));
  const servedNames = options.servedModelNames.length ? options.servedModelNames : [options.model];
  const metrics = new SimMetrics(engine, servedNames[0], { legacy: options.legacyMetrics, maxModelLen });
  const runtime = { failureInjectionRate: options.failureInjectionRate, failureTypes: options.failureTypes };
  const rng = createRng(options.seed ^ 0x5eed);
  const startedAt = Date.now();
  const idPrefix = randomBytes(6).toString('hex');
  let nextId = 0;
  let portHeader = String(options.port);
  let publisher: KvEventPublisher | undefined;
  const inflight = new Set<ServerResponse>();

  const ready = () => Date.now() - startedAt >= options.startupDurationMs;

  function setConfig(patch: RuntimeConfigPatch): void {
    const p = RuntimeConfigSchema.safeParse(patch);
    if (!p.success) {
      const issue = p.error.issues[0];
      throw new KvgateError(ErrorCode.InvalidRequest, `${issue.path.join('.') || 'config'}: ${issue.message}`, { param: issue.path.join('.') || null });
    }
    const v = p.data;
    if (v.failure_injection_rate !== undefined) runtime.failureInjectionRate = v.failure_injection_rate;
    if (v.failure_types !== undefined) runtime.failureTypes = v.failure_types;
    if (v.step_base_ms !== undefined) engine.setLatency({ stepBaseMs: v.step_base_ms });
    if (v.prefill_ms_per_token !== undefined) engine.setLatency({ prefillMsPerToken: v.prefill_ms_per_token });
    if (v.decode_ms_per_seq !== undefined) engine.setLatency({ decodeMsPerSeq: v.decode_ms_per_seq });
    applyLatencyOverrides(v.time_to_first_token, v.inter_token_latency);
  }

  function runtimeConfig() {
    const l = engine.latencyModel;
    return {
      failure_injection_rate: runtime.failureInjectionRate,
      failure_types: runtime.failureTypes,
      step_base_ms: l.stepBaseMs,
      prefill_overhead_ms: l.prefillOverheadMs,
      prefill_ms_per_token: l.prefillMsPerToken,
      decode_ms_per_seq: l.decodeMsPerSeq,
    };
  }

  function modelCard(id: string) {
    const created = Math.floor(startedAt / 1000);
    return {
      id,
      object: 'model',
      created,
      owned_by: 'vllm',
      root: options.model,
      parent: null,
      max_model_len: maxModelLen,
      permission: [
        {
          id: `modelperm-${idPrefix}`,
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

  function checkContext(cr: CompletionRequest): number {
    const n = cr.promptTokenIds.length;
    if (n >= maxModelLen) {
      throw new KvgateError(
        ErrorCode.ContextLengthExceeded,
        `This model's maximum context length is ${maxModelLen} tokens. However, your request has ${n} input tokens. Please reduce the length of the input messages.`,
        { param: cr.kind === 'chat' ? 'messages' : 'prompt' },
      );
    }
    if (cr.maxTokens !== null && n + cr.maxTokens > maxModelLen) {
      throw new KvgateError(
        ErrorCode.ContextLengthExceeded,
        `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${n + cr.maxTokens} tokens (${n} in the messages, ${cr.maxTokens} in the completion). Please reduce the length of the messages or completion.`,
        { param: 'max_tokens' },
      );
    }
    // Without max_tokens: completions default to 16 (OpenAI); chat "stops" after a natural 128-token answer.
    return Math.min(cr.maxTokens ?? (cr.kind === 'chat' ? 128 : 16), maxModelLen - n);
  }

  async function handleCompletion(req: IncomingMessage, res: ServerResponse, kind: 'completions' | 'chat'): Promise<void> {
    const body = parseJsonBody(await readBody(req, options.maxRequestBodyBytes));
    const failure = drawFailure(runtime.failureInjectionRate, runtime.failureTypes, rng);
    if (failure) {
      const f = injectedFailure(failure, typeof body.model === 'string' ? body.model : options.model, maxModelLen);
      sendJson(res, f.status, f.body);
      return;
    }
    const cr = parseCompletionRequest(kind, body, tokenizer);
    if (!servedNames.includes(cr.model)) {
      throw new KvgateError(ErrorCode.ModelNotFound, `The model \`${cr.model}\` does not exist.`, { param: 'model' });
    }
    const target = checkContext(cr);
    const naturalStop = cr.maxTokens === null && kind === 'chat';
    let outputTokenIds: number[] | undefined;
    let echoPieces: string[] | undefined;
    if (options.mode === 'echo') {
      outputTokenIds = tokenizer.encode(cr.echoText);
      echoPieces = tokenizer.splitPieces?.(cr.echoText);
    }
    else if (fillerIds) outputTokenIds = Array.from({ length: target }, (_, i) => fillerIds[i % fillerIds.length]);

    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${idPrefix}${(nextId++).toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const object = kind === 'chat' ? 'chat.completion' : 'text_completion';
    const chunkObject = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const tokens: number[] = [];
    let lastTokenMs = 0;
    let finished = false;
    inflight.add(res);

    const usageOf = (o: { promptTokens: number; completionTokens: number; cachedTokens: number }) => ({
      prompt_tokens: o.promptTokens,
      completion_tokens: o.completionTokens,
      total_tokens: o.promptTokens + o.completionTokens,
      prompt_tokens_details: { cached_tokens: o.cachedTokens },
    });
    const finishReasonOf = (o: RequestOutcome) => (naturalStop && o.finishReason === 'length' ? 'stop' : o.finishReason);

    if (cr.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-inference-port': portHeader });
      if (kind === 'chat') {
        res.write(`data: ${JSON.stringify({ id, object: chunkObject, created, model: cr.model, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] })}\n\n`);
      }
    }

    res.on('close', () => {
      inflight.delete(res);
      if (!finished) {
        finished = true;
        engine.abort(id);
      }
    });

    engine.submit(
      {
        id,
        promptTokenIds: cr.promptTokenIds,
        maxTokens: target,
        ignoreEos: cr.ignoreEos,
        cacheSalt: cr.cacheSalt,
        outputTokenIds,
      },
      {
        onToken: (tokenId, index, nowMs) => {
          if (index > 0) metrics.observeInterToken(nowMs - lastTokenMs);
          lastTokenMs = nowMs;
          if (!cr.stream) {
            tokens.push(tokenId);
            return;
          }
          const text = echoPieces?.[index] ?? tokenizer.decode([tokenId]);
          const choice = kind === 'chat' ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: null } : { index: 0, text, logprobs: null, finish_reason: null };
          res.write(`data: ${JSON.stringify({ id, object: chunkObject, created, model: cr.model, choices: [choice] })}\n\n`);
        },
        onFinish: (o) => {
          metrics.observeFinished(o, cr.maxTokens ?? target);
          if (finished) return; // client went away: nothing to send
          finished = true;
          inflight.delete(res);
          const finishReason = finishReasonOf(o);
          const usage = usageOf(o);
          if (cr.stream) {
            const last = kind === 'chat' ? { index: 0, delta: {}, logprobs: null, finish_reason: finishReason } : { index: 0, text: '', logprobs: null, finish_reason: finishReason };
            res.write(`data: ${JSON.stringify({ id, object: chunkObject, created, model: cr.model, choices: [last], ...(cr.continuousUsage ? { usage } : {}) })}\n\n`);
            if (cr.includeUsage) res.write(`data: ${JSON.stringify({ id, object: chunkObject, created, model: cr.model, choices: [], usage })}\n\n`);
            res.end('data: [DONE]\n\n');
            return;
          }
          // Echo text first; tokens past it (ignore_eos) are decoded like random ones.
          const text = echoPieces ? echoPieces.slice(0, tokens.length).join('') + (tokens.length > echoPieces.length ? tokenizer.decode(tokens.slice(echoPieces.length)) : '') : tokenizer.decode(tokens);
          const choice =
            kind === 'chat'
              ? { index: 0, message: { role: 'assistant', content: text, tool_calls: [] }, logprobs: null, finish_reason: finishReason }
              : { index: 0, text, logprobs: null, finish_reason: finishReason };
          sendJson(res, 200, { id, object, created, model: cr.model, choices: [choice], usage }, { 'x-inference-port': portHeader });
        },
      },
    );
  }

  async function handleTokenize(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parseJsonBody(await readBody(req, options.maxRequestBodyBytes));
    let tokens: number[];
    if (Array.isArray(body.messages)) tokens = parseCompletionRequest('chat', { ...body, model: body.model ?? servedNames[0] }, tokenizer).promptTokenIds;
    else if (typeof body.prompt === 'string') tokens = tokenizer.encode(body.prompt);
    else throw new KvgateError(ErrorCode.InvalidRequest, 'tokenize needs a string prompt or a messages array', { param: 'prompt' });
    sendJson(res, 200, { count: tokens.length, max_model_len: maxModelLen, tokens, token_strs: null });
  }

  async function handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'POST') setConfig(parseJsonBody(await readBody(req, 64 * 1024)) as RuntimeConfigPatch);
    sendJson(res, 200, runtimeConfig());
  }

  const routes: Record<string, Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>> = {
    '/v1/completions': { POST: (q, s) => handleCompletion(q, s, 'completions') },
    '/v1/chat/completions': { POST: (q, s) => handleCompletion(q, s, 'chat') },
    '/v1/models': { GET: (_q, s) => sendJson(s, 200, { object: 'list', data: servedNames.map(modelCard) }) },
    '/health': { GET: (_q, s) => void s.writeHead(200, { 'content-length': 0 }).end() },
    '/health/ready': { GET: (_q, s) => void s.writeHead(200, { 'content-length': 0 }).end() },
    '/version': { GET: (_q, s) => sendJson(s, 200, { version: `kvgate-sim ${VERSION}` }) },
    '/tokenize': { POST: handleTokenize },
    '/metrics': {
      GET: async (_q, s) => {
        const text = await metrics.text();
        s.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) }).end(text);
      },
    },
    '/admin/config': { GET: handleAdmin, POST: handleAdmin },
    '/reset_prefix_cache': {
      POST: (_q, s) => {
        engine.resetPrefixCache();
        s.writeHead(200, { 'content-length': 0 }).end();
      },
    },
  };

  const server: Server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 15_000 }, (req, res) => {
    const q = req.url!.indexOf('?');
    const path = q < 0 ? req.url! : req.url!.slice(0, q);
    const route = routes[path];
    const handler = route?.[req.method ?? 'GET'];
    try {
      if (!route) throw new KvgateError(ErrorCode.NotFound, `no route for ${path}`);
      if (!handler) throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${req.method} is not allowed on ${path}`);
      if (!ready() && path !== '/metrics' && path !== '/version') {
        throw new KvgateError(ErrorCode.NotReady, 'The server is starting up and not ready yet.');
      }
      const p = handler(req, res);
      if (p) p.catch((err) => sendError(res, err));
    } catch (err) {
      req.resume();
      sendError(res, err);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  portHeader = String(port);
  const hostForUrl = options.host.includes(':') ? `[${options.host}]` : options.host;

  if (options.kvEventsEndpoint) {
    publisher = new KvEventPublisher({
      endpoint: options.kvEventsEndpoint,
      topic: options.kvEventsTopic,
      format: options.kvEventsFormat,
      replayEndpoint: options.kvEventsReplayEndpoint,
      logger,
    });
    try {
      await publisher.start();
    } catch (err) {
      server.close();
      throw new KvgateError(ErrorCode.InvalidConfig, `cannot open --kv-events-endpoint ${options.kvEventsEndpoint}: ${(err as Error).message}`);
    }
    const pub = publisher;
    engine.onKvEvents((b) => pub.publish(b));
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostForUrl}:${port}`,
    host: options.host,
    port,
    options,
    engine,
    setConfig,
    close: () =>
      (closing ??= (async () => {
        server.close();
        // Finish streams that are still open: their clients see the connection end.
        for (const res of inflight) res.destroy();
        server.closeAllConnections();
        await publisher?.close();
      })()),
  };
}
