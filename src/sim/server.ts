import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Cors } from '../shared/cors.js';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { createEngine, createTokenizer, loadProfile, RealClock, ESTIMATE_OUTPUT_VOCAB, type SimEngine } from '../engine/index.js';
import type { Tokenizer } from '../engine/types.js';
import { createRng } from '../shared/rng.js';
import { mixSeed } from '../shared/seed.js';
import { KvgateError, ErrorCode, openAIErrorBody } from '../shared/errors.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { servedMaxModelLen } from './kv-capacity.js';
import { VERSION } from '../shared/version.js';
import { SimOptionsSchema, type SimOptions, type SimOptionsInput } from './options.js';
import { readBody, sendJson, sendError, parseJsonBody } from '../shared/http.js';
import { SimMetrics } from './metrics.js';
import { FakeMetricsRegistry } from './fake-metrics.js';
import { mergeFakeMetrics } from './fake-metrics-config.js';
import { KvEventPublisher, narrowWildcard } from './kv-event-publisher.js';
import { bracketHost, hostUrl, listenHostProblem } from '../shared/host-port.js';
import { parseCompletionRequest, type ParseLimits } from './completion-request.js';
import { serveCompletion, type CompletionDeps } from './completion-handler.js';
import { drawFailure, injectedFailure } from './failure-injection.js';
import { LoraRegistry } from './lora.js';
import { LogprobSource, candidateIds } from './logprobs.js';
import { embeddingsResponse } from './embeddings.js';
import { latencyModelFor, kvTransferMs, validateLatencySettings, type LatencySettings } from './latency-settings.js';
import { parseAdminPatch } from './admin-config.js';
import { adminConfigView } from './admin-config-view.js';
import { selfSignedCertificate } from './tls.js';
import { modelEndpoints } from './model-endpoints.js';
import { ApiKeyGuard } from './api-key-guard.js';

// CORS as vLLM's OpenAI server answers it by default (--allowed-origins ["*"]).
const ANY_ORIGIN = new Cors(['*']);

export interface RunningSim {
  url: string;
  host: string;
  port: number;
  options: SimOptions;
  engine: SimEngine;
  /** The LoRA adapters this server knows (static and loaded at run time). */
  loras: LoraRegistry;
  /** The KV-event topic actually used (placeholders expanded), or undefined without KV events. */
  kvEventsTopic?: string;
  /** The KV-event endpoints actually opened (a wildcard narrowed to the HTTP address, see kvEventsBindHttpHost). */
  kvEventsEndpoints?: { endpoint: string; replayEndpoint?: string };
  /** Applies a runtime configuration patch (same as POST /admin/config). */
  setConfig(patch: Record<string, unknown>): void;
  close(): Promise<void>;
}

/**
 * A path or method no route serves, answered as vLLM's FastAPI app answers it. vLLM registers
 * routes by the model's tasks: a generative model has no /score, /rerank, /v1/rerank,
 * /v2/rerank, /classify or /pooling (vllm/entrypoints/pooling/factories.py, registered only for
 * pooling tasks), so those are Starlette's 404 `{"detail":"Not Found"}` as any unknown path —
 * vLLM's own exception handler takes fastapi.HTTPException, not the Starlette one the router
 * raises. A known path with another method is 405 `{"detail":"Method Not Allowed"}` with
 * `Allow` (FastAPI's routes do not add HEAD to GET). Starlette's redirect_slashes answers a path
 * that matches a route once its trailing slashes are dropped with 307 to that route.
 */
function routeMiss(req: IncomingMessage, res: ServerResponse, at: { path: string; query: string; https: boolean }, routes: Record<string, Record<string, unknown>>): void {
  const { path, query } = at;
  const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
  if (route) return sendJson(res, 405, { detail: 'Method Not Allowed' }, { allow: Object.keys(route).join(', ') });
  const bare = path.replace(/\/+$/, '');
  if (path !== '/' && bare !== path && Object.hasOwn(routes, bare) && req.headers.host) {
    return void res.writeHead(307, { location: `${at.https ? 'https' : 'http'}://${req.headers.host}${bare}${query}`, 'content-length': 0 }).end();
  }
  sendJson(res, 404, { detail: 'Not Found' });
}

const FILLER = 'The quick brown fox jumps over the lazy dog while the sun sets behind distant hills. ';
/** Words whose tokens serve as logprob alternatives under real tokenizers. */
const ALTERNATIVE_WORDS =
  ' the of and to in is that it for on with as was at by be this are from or an have not but they which one you were all we her she there can has been if more when will would who so no what out up into do than then its some could them time these two may first see way only its new like our me man any day get'.split(' ');

/** Validates options, naming the offending field (in CLI spelling) on error. */
export function parseSimOptions(input: SimOptionsInput): SimOptions {
  const r = SimOptionsSchema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue.path.map(String).join('.').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  throw new KvgateError(ErrorCode.InvalidConfig, `invalid --${field || 'option'}: ${issue.message}`, { param: field });
}

type Handler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void> | void;

/** Starts one vLLM-compatible simulated model server. `port: 0` picks a free port. */
export async function startSimServer(input: SimOptionsInput = {}, opts: { logger?: Logger } = {}): Promise<RunningSim> {
  const options = parseSimOptions(input);
  const logger = opts.logger ?? silentLogger();
  const profile = loadProfile(options.profile);
  const maxModelLen = servedMaxModelLen(options, profile);
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
    hashSeed: options.hashSeed,
    kvEvents: Boolean(options.kvEventsEndpoint),
    maxLoras: options.maxLoras,
  });
  // The profile's step model, as /admin/config's step keys leave it; llm-d latency settings apply on top.
  const baseLatency = { ...profile.latency };
  let latency: LatencySettings = {
    latencyCalculator: options.latencyCalculator,
    timeToFirstToken: options.timeToFirstToken,
    timeToFirstTokenStdDev: options.timeToFirstTokenStdDev,
    interTokenLatency: options.interTokenLatency,
    interTokenLatencyStdDev: options.interTokenLatencyStdDev,
    prefillOverhead: options.prefillOverhead,
    prefillTimePerToken: options.prefillTimePerToken,
    prefillTimeStdDev: options.prefillTimeStdDev,
    kvCacheTransferLatency: options.kvCacheTransferLatency,
    kvCacheTransferLatencyStdDev: options.kvCacheTransferLatencyStdDev,
    kvCacheTransferTimePerToken: options.kvCacheTransferTimePerToken,
    kvCacheTransferTimeStdDev: options.kvCacheTransferTimeStdDev,
    timeFactorUnderLoad: options.timeFactorUnderLoad,
  };
  const applyLatency = () => engine.setLatency(latencyModelFor(baseLatency, latency));
  try {
    validateLatencySettings(latency);
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `invalid --${(err as KvgateError).param}: ${(err as Error).message}`);
  }
  applyLatency();
  const tokenizer: Tokenizer = await createTokenizer(options.tokenizer);
  const fillerIds = tokenizer.name === 'estimate' ? null : tokenizer.encode(FILLER.repeat(8));
  const servedNames = options.servedModelNames.length ? options.servedModelNames : [options.model];
  const baseName = servedNames[0];
  const loras = new LoraRegistry(options.loraModules, [options.model, ...servedNames]);
  const metrics = new SimMetrics(engine, baseName, { legacy: options.legacyMetrics, maxModelLen, engineIndex: options.dataParallelRank, maxLoras: options.maxLoras });
  const fake = options.fakeMetrics
    ? new FakeMetricsRegistry(options.fakeMetrics, {
        modelName: baseName,
        maxModelLen,
        refreshIntervalMs: options.fakeMetricsRefreshIntervalMs,
        maxLoras: options.maxLoras,
        engineIndex: options.dataParallelRank,
        cacheConfigLabels: { block_size: String(engine.blockSize), num_gpu_blocks: String(engine.numGpuBlocks), num_cpu_blocks: '0', cache_dtype: 'auto', engine: String(options.dataParallelRank) },
      })
    : undefined;
  let logprobSource: LogprobSource | undefined;
  const logprobs = () =>
    (logprobSource ??= new LogprobSource(
      options.seed,
      tokenizer,
      tokenizer.name === 'estimate' ? Array.from({ length: ESTIMATE_OUTPUT_VOCAB }, (_, i) => i) : candidateIds(tokenizer, tokenizer.encode(ALTERNATIVE_WORDS.join(' '))),
    ));
  const runtime = { failureInjectionRate: options.failureInjectionRate, failureTypes: options.failureTypes };
  const rng = createRng(mixSeed(options.seed, 0x5eed));
  const startedAt = Date.now();
  const idPrefix = randomBytes(6).toString('hex');
  const engineUuid = randomUUID();
  let nextId = 0;
  let portHeader = String(options.port);
  let publisher: KvEventPublisher | undefined;
  const inflight = new Set<ServerResponse>();
  const parseLimits: ParseLimits = { maxLogprobs: options.maxLogprobs, maxChoices: 1024 };

  const ready = () => Date.now() - startedAt >= options.startupDurationMs;

  function setConfig(body: Record<string, unknown>): void {
    const patch = parseAdminPatch(body);
    const nextLatency = { ...latency, ...patch.latency };
    validateLatencySettings(nextLatency);
    let nextFake = fake?.current;
    if (patch.fakeMetrics) {
      if (!fake) throw new KvgateError(ErrorCode.InvalidRequest, 'fake-metrics can be updated only when the simulator was started with --fake-metrics', { param: 'fake-metrics' });
      try {
        nextFake = mergeFakeMetrics(fake.current, patch.fakeMetrics);
      } catch (err) {
        throw new KvgateError(ErrorCode.InvalidRequest, `fake-metrics: ${(err as Error).message}`, { param: 'fake-metrics' });
      }
    }
    // Every field validated: apply all at once.
    if (patch.failureInjectionRate !== undefined) runtime.failureInjectionRate = patch.failureInjectionRate;
    if (patch.failureTypes !== undefined) runtime.failureTypes = patch.failureTypes;
    Object.assign(baseLatency, patch.step);
    latency = nextLatency;
    applyLatency();
    if (fake && nextFake) fake.set(nextFake);
  }

  /** The base model or LoRA adapter a request names; vLLM's 404 wording otherwise. */
  function resolveModel(model: string): { responseModel: string; lora?: { name: string; id: number } } {
    if (servedNames.includes(model)) return { responseModel: baseName };
    const a = loras.get(model);
    if (a) return { responseModel: a.name, lora: { name: a.name, id: a.id } };
    throw new KvgateError(ErrorCode.ModelNotFound, `The model \`${model}\` does not exist.`, { param: 'model' });
  }

  /** llm-d-inference-sim's response headers: port always (kvgate's contract), pod and namespace from the environment, request id on demand. */
  function responseHeaders(requestId: string): Record<string, string> {
    const h: Record<string, string> = { 'x-inference-port': portHeader };
    if (options.podName) h['x-inference-pod'] = options.podName;
    if (options.podNamespace) h['x-inference-namespace'] = options.podNamespace;
    if (options.enableRequestIdHeaders) h['x-request-id'] = requestId;
    return h;
  }

  function requireJson(req: IncomingMessage): void {
    if (!options.requireJsonContentType) return;
    const mediaType = String(req.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
    if (mediaType !== 'application/json') {
      throw new KvgateError(ErrorCode.InvalidRequest, "Unsupported Media Type: Only 'application/json' is allowed", { param: 'content-type' });
    }
  }

  async function readJson(req: IncomingMessage, limit = options.maxRequestBodyBytes): Promise<Record<string, unknown>> {
    return parseJsonBody(await readBody(req, limit));
  }

  const completionDeps: CompletionDeps = {
    engine,
    tokenizer,
    metrics,
    get logprobSource() {
      return logprobs();
    },
    mode: options.mode,
    fillerIds,
    maxModelLen,
    transferMs: (n) => kvTransferMs(latency, n, rng),
    kvOrigin: { engineId: engineUuid, host: options.podIp ?? options.host, port: 5600 + options.dataParallelRank },
    get globalCacheHitThreshold() {
      return options.globalCacheHitThreshold;
    },
    inflight,
    nextEngineId: () => `${idPrefix}-${(nextId++).toString(36)}`,
  };

  async function handleCompletion(req: IncomingMessage, res: ServerResponse, kind: 'completions' | 'chat'): Promise<void> {
    requireJson(req);
    const body = await readJson(req);
    // llm-d-inference-sim: X-Return-Error answers with that status at once, before anything else is checked.
    const forced = req.headers['x-return-error'];
    if (forced !== undefined) {
      const raw = String(forced);
      const code = /^\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
      if (!(code >= 100 && code <= 599)) {
        throw new KvgateError(ErrorCode.InvalidRequest, `Invalid X-Return-Error header value ${JSON.stringify(raw)}: must be an integer HTTP status code`, { param: 'x-return-error' });
      }
      sendJson(res, code, openAIErrorBody(code, `Simulated error triggered by X-Return-Error header (code ${code})`, 'simulated_error'));
      return;
    }
    const failure = drawFailure(runtime.failureInjectionRate, runtime.failureTypes, rng);
    if (failure) {
      const f = injectedFailure(failure, typeof body.model === 'string' ? body.model : options.model, maxModelLen);
      sendJson(res, f.status, f.body);
      return;
    }
    const cr = parseCompletionRequest(kind, body, tokenizer, parseLimits);
    const { responseModel, lora } = resolveModel(cr.model);
    const limit = options.maxWaitingQueueLength;
    if (limit !== undefined && engine.stats().waiting + cr.n * cr.prompts.length > limit) {
      throw new KvgateError(ErrorCode.RateLimited, 'Failed to enqueue request, waiting requests queue is full');
    }
    // vLLM names the response after X-Request-Id, else the body's request_id, else a fresh id.
    const header = req.headers['x-request-id'];
    const requestId = (typeof header === 'string' && header) || cr.requestId || `${idPrefix}${(nextId++).toString(36)}`;
    const forceThreshold = String(req.headers['x-cache-threshold-finish-reason'] ?? '').toLowerCase() === 'true';
    serveCompletion(completionDeps, res, {
      cr,
      responseModel,
      lora,
      id: `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${requestId}`,
      forceCacheThreshold: forceThreshold,
      headers: responseHeaders(requestId),
    });
  }

  async function handleEmbeddings(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requireJson(req);
    const body = await readJson(req);
    if (typeof body.model !== 'string' || !body.model) throw new KvgateError(ErrorCode.MissingModel, "Invalid request: missing required parameter 'model'.", { param: 'model' });
    const { responseModel } = resolveModel(body.model);
    const header = req.headers['x-request-id'];
    const requestId = (typeof header === 'string' && header) || randomUUID();
    sendJson(res, 200, embeddingsResponse(body, responseModel, tokenizer, options.defaultEmbeddingDimensions), responseHeaders(requestId));
  }

  const endpoints = modelEndpoints({ options, engine, tokenizer, loras, servedNames, maxModelLen, parseLimits, startedAt, idPrefix, requireJson, readJson, responseHeaders });

  async function handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'POST') setConfig(await readJson(req, 64 * 1024));
    sendJson(res, 200, adminConfigView(options, { runtime, latency, baseLatency, fake: fake?.current, servedNames, loras: loras.list(), port: Number(portHeader) }));
  }

  async function handleFakeMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setConfig({ 'fake-metrics': await readJson(req, 1024 * 1024) });
    res.writeHead(204).end();
  }

  const health: Handler = (_q, s) => void s.writeHead(200, { 'content-length': 0 }).end();
  const routes: Record<string, Record<string, Handler>> = {
    '/v1/completions': { POST: (q, s) => handleCompletion(q, s, 'completions') },
    '/v1/chat/completions': { POST: (q, s) => handleCompletion(q, s, 'chat') },
    '/v1/completions/render': { POST: (q, s) => endpoints.render(q, s, 'completions') },
    '/v1/chat/completions/render': { POST: (q, s) => endpoints.render(q, s, 'chat') },
    '/v1/embeddings': { POST: handleEmbeddings },
    '/v1/models': { GET: (_q, s) => endpoints.models(s) },
    '/v1/load_lora_adapter': { POST: (q, s) => endpoints.lora(q, s, 'load') },
    '/v1/unload_lora_adapter': { POST: (q, s) => endpoints.lora(q, s, 'unload') },
    '/health': { GET: health },
    '/health/ready': { GET: health },
    '/version': { GET: (_q, s) => sendJson(s, 200, { version: `kvgate-sim ${VERSION}` }) },
    '/tokenize': { POST: endpoints.tokenize },
    '/detokenize': { POST: endpoints.detokenize },
    '/metrics': {
      GET: async (_q, s) => {
        const text = fake ? await fake.text() : await metrics.text();
        s.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) }).end(text);
      },
    },
    '/admin/config': { GET: handleAdmin, POST: handleAdmin },
    '/fake_metrics': { POST: handleFakeMetrics },
    '/sleep': { POST: endpoints.sleep },
    '/wake_up': { POST: endpoints.wakeUp },
    '/is_sleeping': { GET: (_q, s) => sendJson(s, 200, { is_sleeping: engine.isSleeping }) },
    '/reset_prefix_cache': {
      POST: (_q, s) => {
        engine.resetPrefixCache();
        s.writeHead(200, { 'content-length': 0 }).end();
      },
    },
  };

  const guard = options.apiKeys.length > 0 ? new ApiKeyGuard(options.apiKeys) : undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url!;
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (options.logHttp) {
      const t0 = performance.now();
      res.once('finish', () => logger.info({ method: req.method, path, status: res.statusCode, ms: Math.round((performance.now() - t0) * 10) / 10 }, 'http'));
    }
    // --api-key first, as vLLM's outermost middleware (before CORS, routing and readiness).
    if (guard?.refuses(req.method, path, req.headers.authorization)) return ApiKeyGuard.refuse(req, res);
    // Preflights on any path, as vLLM's CORS middleware (before routing and readiness).
    const origin = req.headers.origin;
    if (origin !== undefined && ANY_ORIGIN.handle(req, res, origin)) return;
    const route = routes[path];
    const handler = route?.[req.method ?? 'GET'];
    try {
      if (!route || !handler) {
        req.resume();
        return routeMiss(req, res, { path, query: q < 0 ? '' : url.slice(q), https: tls !== undefined }, routes);
      }
      if (!ready() && path !== '/metrics' && path !== '/version') {
        throw new KvgateError(ErrorCode.NotReady, 'The server is starting up and not ready yet.');
      }
      const p = handler(req, res, new URLSearchParams(q < 0 ? '' : url.slice(q + 1)));
      if (p) p.catch((err) => sendError(res, err));
    } catch (err) {
      req.resume();
      sendError(res, err);
    }
  };

  const serverOpts = { keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 15_000 };
  let tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  if (options.sslCertFile && options.sslKeyFile) {
    try {
      tls = { cert: readFileSync(options.sslCertFile), key: readFileSync(options.sslKeyFile) };
    } catch (err) {
      throw new KvgateError(ErrorCode.InvalidConfig, `cannot read --ssl-certfile/--ssl-keyfile: ${(err as Error).message}`);
    }
  } else if (options.selfSignedCerts) {
    tls = await selfSignedCertificate(options.host);
  }
  const server: Server = tls ? (createHttpsServer({ ...serverOpts, ...tls }, onRequest) as unknown as Server) : createServer(serverOpts, onRequest);

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => resolve());
    });
  } catch (err) {
    // The cause keeps Node's code (EADDRINUSE) for callers that name their own flag (kvgate up).
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new KvgateError(ErrorCode.InvalidConfig, `--port: port ${options.port} on ${options.host} is already in use: stop what holds it or give another --port`, { param: 'port', cause: err });
    // An address this machine lacks or a name that does not resolve: name --host (kvgate sim's and kvgate up's flag alike).
    const hostProblem = listenHostProblem(options.host, e.code);
    if (hostProblem) throw new KvgateError(ErrorCode.InvalidConfig, hostProblem, { param: 'host', cause: err });
    throw err;
  }
  const { port, address: httpAddress } = server.address() as AddressInfo;
  portHeader = String(port);

  let topic: string | undefined;
  let kvEndpoints: RunningSim['kvEventsEndpoints'];
  if (options.kvEventsEndpoint) {
    // The address HTTP is bound to (a name such as localhost resolved, as Node resolved it to listen).
    const narrow = (endpoint: string, on: boolean) => (on ? narrowWildcard(endpoint, httpAddress) : endpoint);
    const pubAt = narrow(options.kvEventsEndpoint, options.kvEventsBindHttpHost.endpoint);
    const replayAt = options.kvEventsReplayEndpoint === undefined ? undefined : narrow(options.kvEventsReplayEndpoint, options.kvEventsBindHttpHost.replay);
    kvEndpoints = { endpoint: pubAt, replayEndpoint: replayAt };
    // llm-d-inference-sim's topic is kv@<POD_IP>:<port>@<model>; placeholders let a fixed option name it before the port is known.
    // An IPv6 {host} is bracketed (kv@[fd00::5]:8000@m): bare, its port would be a guess for the router.
    topic = options.kvEventsTopic.replace(/\{host\}/g, bracketHost(options.podIp ?? options.host)).replace(/\{port\}/g, String(port)).replace(/\{model\}/g, options.model);
    publisher = new KvEventPublisher({
      endpoint: pubAt,
      topic,
      format: options.kvEventsFormat,
      replayEndpoint: replayAt,
      // A narrowed wildcard names an address but still binds, as the wildcard did.
      bind: pubAt !== options.kvEventsEndpoint,
      logger,
      dataParallelRank: options.dataParallelRank,
      replayBufferSize: options.kvEventsReplayBufferSize,
      maxEventsPerBatch: options.kvEventsBatchSize,
    });
    try {
      await publisher.start();
    } catch (err) {
      server.close();
      const at = pubAt === options.kvEventsEndpoint ? pubAt : `${options.kvEventsEndpoint} (on the HTTP host: ${pubAt})`;
      throw new KvgateError(ErrorCode.InvalidConfig, `cannot open --kv-events-endpoint ${at}: ${(err as Error).message}`, { param: 'kv-events-endpoint', cause: err });
    }
    const pub = publisher;
    engine.onKvEvents((b) => pub.publish(b));
  }

  let closing: Promise<void> | undefined;
  return {
    url: hostUrl(tls ? 'https' : 'http', options.host, port),
    host: options.host,
    port,
    options,
    engine,
    loras,
    kvEventsTopic: topic,
    kvEventsEndpoints: kvEndpoints,
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
