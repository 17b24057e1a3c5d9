import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { Gauge } from 'prom-client';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { AddressInfo, Socket } from 'node:net';
import type { EndpointInfo } from '../router/api.js';
import type { Objectives } from '../router/objectives.js';
import type { EffectiveConfig, EndpointPicker, PromptTokenizer } from '../router/index.js';
import type { Director, RequestHandle } from '../router/requestcontrol/index.js';
import { assertJsonContentType } from '../router/parse-request.js';
import type { ChatTemplates } from '../router/prompt/chat-templates.js';
import { KvgateError, ErrorCode, toOpenAIError } from '../shared/errors.js';
import { ByteBudget, parseJsonBody, readBody, sendError, sendJson } from '../shared/http.js';
import { assertJsonDepth } from '../shared/json-depth.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import type { SourceSpec } from '../datalayer/pool-runtime.js';
import { startRoutingStack } from '../runtime/routing-stack.js';
import type { KvEventIntake, KvEventIntakeOptions } from '../datalayer/kv-events/kv-event-intake.js';
import { ApiKeys } from './api-keys.js';
import { ResponseSink, DiscardSink } from './response-sink.js';
import { AttemptSignal, UpstreamPools, type AbortReason } from './upstream-pools.js';
import { DEFAULT_TIMEOUTS, type GatewayTimeouts } from './timeouts.js';
import { MemoryRelief } from './memory-relief.js';
import { firstUtilityAnswer } from './utility-attempts.js';
import { DeadlineSweeper, type Expiring } from '../shared/deadline-sweeper.js';
import { Cors } from '../shared/cors.js';
import { hostUrl, listenHostProblem, unbracketHost } from '../shared/host-port.js';
import type { FlowControlSettings } from '../router/index.js';
import { serveDashboard } from '../observability/index.js';

export interface GatewayOptions {
  host?: string;
  port?: number;
  config: EffectiveConfig;
  /** Exactly one endpoint source: a list, a watched file, or an InferencePool. */
  endpoints?: EndpointInfo[];
  endpointsFile?: string;
  kubernetes?: SourceSpec['kubernetes'];
  apiKeys?: string[];
  /**
   * The key the model servers require (vLLM's --api-key; `--upstream-api-key`): sent as
   * `Authorization: Bearer <key>` on every upstream request, in place of the client's Authorization
   * (the client's key is for the gateway), and on the /v1/models probes. Without it the client's
   * Authorization goes upstream, unless the gateway has keys of its own (then none does).
   */
  upstreamApiKey?: string;
  /** Origins browsers may call from (CORS, as vLLM's --allowed-origins): default `['*']`; `[]` = no CORS headers. */
  allowedOrigins?: string[];
  trustRoutingHeaders?: boolean;
  /** InferenceObjective name → priority (used with trustRoutingHeaders). */
  objectives?: Objectives;
  chatTemplates?: ChatTemplates;
  debugScores?: boolean;
  maxBodyBytes?: number;
  maxAttempts?: number;
  defaultPriority?: number;
  accessLog?: boolean;
  tls?: { cert: string; key: string; clientCa?: string };
  upstreamTls?: { ca?: string; cert?: string; key?: string };
  healthIntervalMs?: number;
  ejectAfter?: number;
  cooldownMs?: number;
  drainSettleMs?: number;
  drainTimeoutMs?: number;
  metricsIntervalMs?: number;
  poolName?: string;
  /** Where the engines' KV events come from (exact prefix matching); the intake always runs, subscribing to endpoints whose KV-event port is known. */
  kvEvents?: KvEventIntakeOptions;
  /** Router-side tokenizer for precise prefix matching (default: estimate, as kvgate sim). */
  tokenizer?: PromptTokenizer;
  logger?: Logger;
  random?: () => number;
  /** Timeouts (ms); missing fields take DEFAULT_TIMEOUTS. */
  timeouts?: Partial<GatewayTimeouts>;
  /** Request body bytes held in memory across all connections (`--max-buffered-bytes`, default 256 MiB); over it → 503. */
  maxBufferedBytes?: number;
  /** The gateway queue and dispatch gate (router/flowcontrol). */
  flowControl?: FlowControlSettings;
}

export interface RunningGateway {
  url: string;
  port: number;
  router: EndpointPicker;
  director: Director;
  /** The pool's KV-event intake (streams, exact index). */
  kvEvents?: KvEventIntake;
  /** Stops accepting, lets in-flight requests finish (up to drainTimeoutMs), then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
// Request headers the gateway sets itself, or answers itself: CORS is the gateway's (its own
// --allowed-origins), so the model server gets no Origin and adds no CORS headers of its own.
// `Expect: 100-continue` (curl sends it for bodies over 1 MiB) was answered by node:http before the
// body was read; forwarded, undici refuses the whole request (UND_ERR_NOT_SUPPORTED) on every attempt.
// `Accept-Encoding` is replaced by identity: the gateway reads response bodies (usage, the usage
// chunk it added to a stream and takes out again), which a compressed body would hide from it.
const SET_BY_GATEWAY = new Set(['host', 'content-length', 'x-request-id', 'origin', 'expect', 'accept-encoding']);
const ROUTING_HEADERS = new Set([
  'x-gateway-destination-endpoint',
  'x-gateway-destination-endpoint-served',
  'x-gateway-destination-endpoint-subset',
  'x-gateway-inference-objective',
  'x-llm-d-inference-objective',
  'x-kvgate-priority',
  'x-gateway-inference-fairness-id',
  'x-llm-d-inference-fairness-id',
]);
const INFERENCE_PATHS = new Set(['/v1/completions', '/v1/chat/completions']);
// Model-routed endpoints of vLLM without prefix-cache routing: sent to an endpoint serving the
// body's model (embeddings, scores, reranking, classification: pooling models, which vLLM serves
// without the generation path; these answered 404 "no route" through the gateway before).
/** A 405 with the `Allow` header HTTP requires of it (RFC 9110 §15.5.6), as vLLM's FastAPI sends it. */
function methodNotAllowed(method: string, path: string, allow: string): KvgateError {
  return new KvgateError(ErrorCode.MethodNotAllowed, `method ${method} is not allowed on ${path}`, { headers: { allow } });
}

/** Where vLLM's request types leave `model` optional (TokenizeRequest, DetokenizeRequest): without one, any ready endpoint answers. */
const MODEL_OPTIONAL_PATHS = new Set(['/tokenize', '/detokenize']);
const MODEL_ROUTED_PATHS = new Set(['/tokenize', '/detokenize', '/v1/embeddings', '/pooling', '/classify', '/score', '/v1/score', '/rerank', '/v1/rerank', '/v2/rerank']);
const HEALTH_PATHS = new Set(['/health', '/ready']);
// How often Node checks its connections' header and request timeouts (its default, 30 s, would let
// a slow client hold a connection up to that much past its timeout).
const CHECK_INTERVAL_MS = 1_000;
const LISTEN_BACKLOG = 4096;

// `errorCode` on 'done': the response was committed (its status sent) and then cut short.
type Attempt = { kind: 'done'; status: number; errorCode?: string } | { kind: 'retry'; timedOut?: boolean } | { kind: 'aborted'; reason: AbortReason };

/** One proxied request's own state beside its lifecycle handle. */
interface Proxied extends Expiring {
  /** The handler returned: a later 'close' is the normal end, not the client going away. */
  done: boolean;
  /** The attempt in progress (aborted when the client goes away or the deadline passes). */
  attempt?: AttemptSignal;
  /** Why the request as a whole was abandoned, if it was. */
  abandoned?: 'client' | 'deadline' | 'evicted';
  /** The answer for an evicted request (429 evicted-priority). */
  evicted?: KvgateError;
  /** An answer went out already (the deadline's 504): later errors are not sent again. */
  answered: boolean;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT']);

/** The client's `x-request-id`, when it sent one. */
function clientRequestId(req: IncomingMessage): string | undefined {
  const v = req.headers['x-request-id'];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * The gateway's own error answers to an inference request carry its id too (successes get it with
 * the lifecycle's response headers): the client's, else the id of its access-log line. A plain
 * function, called on error paths only: no closure per request on the hot path.
 */
function echoRequestId(req: IncomingMessage, res: ServerResponse, h: RequestHandle): void {
  if (!res.headersSent) res.setHeader('x-request-id', h.route ? h.externalId : (clientRequestId(req) ?? h.id));
}

/** Node's HTTP parser errors (malformed or smuggling-shaped requests, oversized headers) as OpenAI error bodies. */
function answerClientError(err: NodeJS.ErrnoException & { code?: string }, socket: Socket): void {
  if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const e = tooLarge
    ? new KvgateError(ErrorCode.InvalidRequest, 'request headers are too large', { status: 431 })
    : new KvgateError(ErrorCode.InvalidRequest, `malformed HTTP request: ${err.code ?? err.message}`);
  const { status, body } = toOpenAIError(e);
  const text = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

/**
 * Starts the OpenAI-compatible cache-aware gateway in this process: HTTP in (node:http), undici
 * out, and nothing else of its own — every routing decision, retry choice, model check, usage
 * count, metric and access-log line belongs to the request lifecycle (router/requestcontrol).
 */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const logger = opts.logger ?? silentLogger();
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const random = opts.random ?? Math.random;
  const keys = new ApiKeys(opts.apiKeys ?? []);
  const upstreamAuthorization = opts.upstreamApiKey ? `Bearer ${opts.upstreamApiKey}` : undefined;
  const allowedOrigins = opts.allowedOrigins ?? ['*'];
  const cors = allowedOrigins.length > 0 ? new Cors(allowedOrigins) : undefined;
  const upstreamConnect = opts.upstreamTls
    ? {
        ca: opts.upstreamTls.ca ? readFileSync(opts.upstreamTls.ca) : undefined,
        cert: opts.upstreamTls.cert ? readFileSync(opts.upstreamTls.cert) : undefined,
        key: opts.upstreamTls.key ? readFileSync(opts.upstreamTls.key) : undefined,
      }
    : undefined;
  const t: GatewayTimeouts = { ...DEFAULT_TIMEOUTS, ...Object.fromEntries(Object.entries(opts.timeouts ?? {}).filter(([, v]) => v !== undefined)) };
  const relief = new MemoryRelief();
  // --request-timeout checked once a second (every tenth of it when shorter): no timer per request.
  const deadlines = new DeadlineSweeper(Math.max(10, Math.min(1000, t.requestMs / 10)));
  // --upstream-first-byte-timeout and --upstream-idle-timeout, swept the same way. Handed to undici
  // instead (headersTimeout, bodyTimeout), its timers of a second or more sit in a list swept once
  // a second, which kept every request's objects alive past the young-generation GC (promoted,
  // freed only by full GCs): with the Sets that SlotSet replaced, bench:gateway 14k → 16k req/s.
  const attemptTimeoutMs = Math.min(...[t.upstreamFirstByteMs, t.upstreamIdleMs].filter((ms) => ms > 0));
  const attemptTimers = new DeadlineSweeper(Math.max(10, Math.min(1000, attemptTimeoutMs / 10)));
  // --request-body-idle-timeout and --request-body-timeout, swept the same way (two timers per request before).
  const bodyTimeoutMs = Math.min(...[t.requestBodyIdleMs, t.requestBodyMs].filter((ms) => ms > 0));
  const bodyTimers = new DeadlineSweeper(Math.max(10, Math.min(1000, bodyTimeoutMs / 10)));
  const budget = new ByteBudget(opts.maxBufferedBytes ?? 256 * 1024 * 1024, (n) => relief.released(n));
  const bodyOptions = { budget, idleTimeoutMs: t.requestBodyIdleMs, timeoutMs: t.requestBodyMs, sweeper: bodyTimers };
  const pools = new UpstreamPools({ connect: upstreamConnect, connectTimeoutMs: t.upstreamConnectMs, keepAliveMs: 4_000 });
  // The endpoint's concurrency cap (max_num_seqs × factor) sizes its connection pool.
  const poolFor = (e: EndpointInfo) => {
    const st = ds.get(e.id);
    return pools.get(e, st ? director.flow.gate.cap(st) : 1);
  };
  const stack = await startRoutingStack({ ...opts, connect: upstreamConnect, logger });
  const { router, pool, metrics, fleet, director } = stack;
  const ds = router.datastore;
  ds.subscribe({
    endpointRemoved: (id) => pools.remove(id),
    healthChanged(id, healthy) {
      if (healthy) return;
      const n = pools.ejected(id);
      if (n > 0) logger.warn({ endpoint: id, attempts: n }, 'endpoint ejected: failing its waiting attempts over');
    },
  });
  new Gauge({ name: 'kvgate_requests_in_flight', help: 'Inference requests between arrival and the end of their response (queued ones included).', registers: [metrics.registry], collect() { this.set(director.inFlight); } });
  new Gauge({ name: 'kvgate_buffered_request_bytes', help: 'Request body bytes the gateway holds in memory (limit: --max-buffered-bytes).', registers: [metrics.registry], collect() { this.set(budget.used); } });
  let draining = false;
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];

  function upstreamHeaders(h: IncomingHttpHeaders, requestId: string, len: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k in h) {
      const v = h[k];
      if (v === undefined || HOP_BY_HOP.has(k) || SET_BY_GATEWAY.has(k) || ROUTING_HEADERS.has(k)) continue;
      if (k === 'authorization' && (keys.enabled || upstreamAuthorization)) continue; // the gateway's key is not the model server's
      out[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    if (upstreamAuthorization) out.authorization = upstreamAuthorization;
    out['content-length'] = String(len);
    out['x-request-id'] = requestId;
    out['accept-encoding'] = 'identity';
    return out;
  }

  /**
   * One attempt on one endpoint. The response is committed to the client at its first body byte;
   * until then any failure (connect, first-byte or idle timeout, reset, ejection) is a retry.
   * After it, a failure ends an SSE stream with an error event (other bodies are cut).
   */
  function forward(h: RequestHandle, ep: EndpointInfo, path: string, headers: Record<string, string>, res: ServerResponse, px: Proxied): Promise<Attempt> {
    return new Promise((resolve) => {
      const signal = new AttemptSignal();
      px.attempt = signal;
      pools.attemptStarted(ep.id, signal);
      let committed = false;
      let sse = false;
      let status = 0;
      let retry = false;
      // Streamed responses start (headers) when the engine accepts the request; non-streamed ones
      // only when the completion is done, so only the deadline (the `deadlines` sweep) bounds those.
      // Then the body: each chunk (or the client draining) pushes the idle deadline on.
      const idleMs = t.upstreamIdleMs;
      const watch: Expiring = {
        deadlineAt: h.route!.stream && t.upstreamFirstByteMs ? performance.now() + t.upstreamFirstByteMs : Infinity,
        expire: () => signal.abort(status ? 'idle-timeout' : 'first-byte-timeout'),
      };
      const activity = (waiting: boolean) => (watch.deadlineAt = waiting || !idleMs ? Infinity : performance.now() + idleMs);
      if (watch.deadlineAt !== Infinity || idleMs) attemptTimers.add(watch);
      poolFor(ep).stream(
        { path, method: 'POST', headers, body: h.body, signal, headersTimeout: 0, bodyTimeout: 0 },
        ({ statusCode, headers: uh }) => {
          status = statusCode;
          activity(false);
          if (h.upstreamStatus(statusCode) === 'retry') {
            retry = true;
            return new DiscardSink(activity);
          }
          const out: Record<string, string | string[]> = {};
          for (const k in uh) {
            const v = uh[k];
            // An upstream's own CORS headers never override the gateway's policy.
            if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'content-length' && !k.startsWith('access-control-')) out[k] = v;
          }
          const ct = String(uh['content-type'] ?? '');
          sse = ct.includes('text/event-stream');
          // Keep the upstream's length when bytes pass through untouched.
          if (uh['content-length'] !== undefined && !sse) out['content-length'] = uh['content-length'];
          return new ResponseSink(res, h, () => {
            committed = true;
            pools.attemptSettled(ep.id, signal);
            h.responseStarted(statusCode, ct);
            Object.assign(out, h.responseHeaders());
            res.writeHead(statusCode, out);
            if (sse) res.flushHeaders();
          }, activity);
        },
        (err) => {
          attemptTimers.remove(watch);
          pools.attemptSettled(ep.id, signal);
          if (px.attempt === signal) px.attempt = undefined;
          // A stream that ended without data: [DONE] was ended with an error event (ResponseSink).
          if (!err) return resolve(retry ? { kind: 'retry' } : { kind: 'done', status, errorCode: h.truncated ? ErrorCode.UpstreamFailed : undefined });
          const why = signal.reason;
          if (why === 'client') return resolve({ kind: 'aborted', reason: 'client' });
          if (why === 'evicted' && !committed) return resolve({ kind: 'aborted', reason: 'evicted' });
          if (!committed) {
            if (why === 'deadline') return resolve({ kind: 'aborted', reason: 'deadline' });
            const code = (err as { code?: string }).code ?? '';
            h.attemptFailed(
              why === 'ejected'
                ? `endpoint ${ep.id} was ejected before answering`
                : why === 'first-byte-timeout'
                  ? `first-byte-timeout: no response headers from ${ep.id} in ${t.upstreamFirstByteMs / 1000} s (--upstream-first-byte-timeout)`
                  : why === 'idle-timeout'
                    ? `idle-timeout: ${ep.id} sent no response body for ${idleMs / 1000} s (--upstream-idle-timeout)`
                    : `${code || 'error'}: ${err.message}`,
            );
            return resolve({ kind: 'retry', timedOut: why === 'first-byte-timeout' || why === 'idle-timeout' || TIMEOUT_CODES.has(code) });
          }
          if (why !== 'deadline' && why !== 'evicted') h.responseFailed(why === 'idle-timeout' ? `idle-timeout mid-body: ${ep.id}` : `mid-body: ${err.message}`);
          // Bytes already flowed: end the stream with an error event (SSE) or cut the body.
          const errorCode = why === 'deadline' ? ErrorCode.Timeout : why === 'evicted' ? ErrorCode.Shed : ErrorCode.UpstreamFailed;
          const message =
            why === 'deadline'
              ? `the request exceeded its deadline of ${t.requestMs / 1000} s (--request-timeout)`
              : why === 'evicted'
                ? (px.evicted?.message ?? 'request evicted by flow control')
              : why === 'idle-timeout'
                ? `upstream ${ep.id} sent nothing for ${idleMs / 1000} s (--upstream-idle-timeout)`
                : `upstream ${ep.id} failed mid-stream: ${err.message}`;
          // A client that does not read would never receive the event: cut its connection instead.
          if (sse && !res.destroyed && !res.writableNeedDrain) {
            res.end(h.streamError(message, errorCode));
          } else res.destroy();
          // The client got this status, but not the whole response: recorded as the failure it is.
          resolve({ kind: 'done', status, errorCode });
        },
      );
    });
  }

  async function handleInference(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const arrived = performance.now();
    const body = await readBody(req, maxBody, bodyOptions);
    const h = director.begin({ ingress: 'gateway', path, headers: req.headers, body });
    const px: Proxied = {
      answered: false,
      done: false,
      deadlineAt: arrived + t.requestMs,
      expire() {
        if (px.done || res.writableFinished) return;
        px.abandoned ??= 'deadline';
        if (px.attempt) return px.attempt.abort('deadline'); // the attempt's callback answers
        if (!res.headersSent) {
          // Waiting in the queue or between attempts: answer now; the lifecycle ends here.
          px.answered = true;
          echoRequestId(req, res, h);
          sendError(res, new KvgateError(ErrorCode.Timeout, `the request exceeded its deadline of ${t.requestMs / 1000} s (--request-timeout)`));
          h.finish({ status: 504, errorCode: ErrorCode.Timeout });
        }
      },
    };
    res.once('close', () => {
      budget.release(body.length); // the body stayed in memory (for retries) until now
      if (px.done || res.writableFinished || px.answered) return;
      px.abandoned ??= 'client';
      px.attempt?.abort('client');
      h.finish({ status: 499 }); // leaves the gateway queue at once when it waits there
    });
    if (t.requestMs) deadlines.add(px);
    let result: Attempt = { kind: 'retry' };
    try {
      try {
        await h.schedule(); // throws (already recorded) on 4xx/5xx admission outcomes
      } catch (err) {
        if (px.answered || px.abandoned) return; // the deadline answered, or the client is gone
        echoRequestId(req, res, h);
        throw err;
      }
      if (px.abandoned) return;
      // A sheddable request may be evicted for one of higher priority (flow control).
      h.onEvict((err) => {
        if (px.done || px.answered) return;
        px.evicted = err;
        px.abandoned ??= 'evicted';
        px.attempt?.abort('evicted'); // the attempt's callback answers; between attempts the loop does
      });
      const headers = upstreamHeaders(req.headers, h.externalId, h.body.length);
      for (let ep = h.nextEndpoint(); ep; ep = h.nextEndpoint()) {
        if (h.attempts > 1) {
          await new Promise((r) => setTimeout(r, h.retryDelayMs(random)));
          if (px.abandoned) {
            result = { kind: 'aborted', reason: px.abandoned };
            break;
          }
        }
        result = await forward(h, ep, req.url!, headers, res, px);
        if (result.kind !== 'retry') break;
      }
      if (result.kind === 'retry' && !res.headersSent) {
        echoRequestId(req, res, h);
        sendError(res, result.timedOut ? new KvgateError(ErrorCode.Timeout, `${h.exhaustedError().message}: the upstream did not answer in time`) : h.exhaustedError());
      } else if (result.kind === 'aborted' && result.reason === 'evicted' && !res.headersSent && !px.answered) {
        px.answered = true;
        echoRequestId(req, res, h);
        sendError(res, px.evicted!);
      } else if (result.kind === 'aborted' && result.reason === 'deadline' && !res.headersSent && !px.answered) {
        px.answered = true;
        echoRequestId(req, res, h);
        sendError(res, new KvgateError(ErrorCode.Timeout, `the request exceeded its deadline of ${t.requestMs / 1000} s (--request-timeout)`));
      }
    } finally {
      px.done = true;
      deadlines.remove(px);
      const status =
        result.kind === 'done' ? result.status : result.kind === 'aborted' ? (result.reason === 'client' ? 499 : result.reason === 'evicted' ? 429 : res.headersSent && !px.answered ? res.statusCode : 504) : res.statusCode;
      const aborted = result.kind === 'aborted' ? result.reason : undefined;
      h.finish({ status, errorCode: result.kind === 'retry' ? (result.timedOut ? ErrorCode.Timeout : ErrorCode.UpstreamFailed) : result.kind === 'done' ? result.errorCode : aborted === 'deadline' ? ErrorCode.Timeout : aborted === 'evicted' ? ErrorCode.Shed : undefined });
    }
  }

  /**
   * /tokenize, /detokenize, /v1/embeddings: to a ready endpoint that serves the body's model;
   * /version, and /tokenize or /detokenize without a model (vLLM's protocol makes it optional
   * there: the server's own model): to any ready endpoint. Failed over like inference requests (utility-attempts.ts);
   * a client that goes away aborts the upstream request.
   */
  function anyReadyEndpoints(): EndpointInfo[] {
    director.routeHeaderOnly(undefined, random); // throws the usual error when no endpoint is ready
    return ds.list().filter((e) => e.healthy).map((e) => e.info);
  }

  async function handleUtility(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let body: Buffer | undefined;
    let endpoints: EndpointInfo[];
    if (MODEL_ROUTED_PATHS.has(path)) {
      assertJsonContentType(req.headers['content-type']);
      body = await readBody(req, maxBody, bodyOptions);
      const held = body.length;
      res.once('close', () => budget.release(held));
      assertJsonDepth(body);
      const model = parseJsonBody(body).model;
      if (model !== undefined && model !== null && typeof model !== 'string') throw new KvgateError(ErrorCode.InvalidRequest, 'model must be a string', { param: 'model' });
      if (typeof model === 'string' && model) endpoints = director.candidates(model).map((c) => c.info);
      else if (MODEL_OPTIONAL_PATHS.has(path)) endpoints = anyReadyEndpoints();
      else throw new KvgateError(ErrorCode.MissingModel, 'model not found in request body', { param: 'model' });
    } else {
      endpoints = anyReadyEndpoints();
    }
    // A fresh id per request, as vLLM makes its own (random_uuid): a millisecond clock gave two
    // requests of the same millisecond one id, and vLLM names engine requests after X-Request-Id.
    const requestId = req.headers['x-request-id']?.toString() ?? `kvgate-${randomUUID()}`;
    const headers = upstreamHeaders(req.headers, requestId, body?.length ?? 0);
    if (!body) delete headers['content-length'];
    const gone = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const answer = firstUtilityAnswer({
      endpoints,
      maxAttempts: opts.maxAttempts ?? 3,
      random,
      abandoned: () => gone.signal.aborted,
      send: (e) => poolFor(e).request({ path: req.url!, method: req.method as 'GET' | 'POST', headers, body, signal: gone.signal, headersTimeout: t.upstreamFirstByteMs, bodyTimeout: t.upstreamIdleMs }),
      failed: (e, reason, transport) => {
        if (transport) director.opts.feedback?.failed(e.id, reason);
        logger.warn({ path, endpoint: e.id, reason }, 'upstream attempt failed; trying the next endpoint');
      },
    });
    try {
      const { endpoint: ep, response: r } = await answer;
      const out: Record<string, string | string[]> = {};
      for (const k in r.headers) {
        const v = r.headers[k];
        // As for inference responses: the upstream's CORS headers never override the gateway's policy.
        if (v !== undefined && !HOP_BY_HOP.has(k) && !k.startsWith('access-control-')) out[k] = v;
      }
      out['x-gateway-destination-endpoint-served'] = ep.id;
      out['x-request-id'] = requestId;
      res.writeHead(r.statusCode, out);
      await pipeline(r.body, res); // with back-pressure: a client that reads slowly slows the upstream
    } catch (err) {
      if (!gone.signal.aborted) throw err; // the client went away: nothing to answer, nothing to log
    }
  }

  // A response closed: one request fewer in flight (the drain waits for none). One function for all.
  const responseClosed = () => {
    if (--inflight === 0 && idleWaiters.length) {
      for (const w of idleWaiters) w();
      idleWaiters = [];
    }
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const q = req.url!.indexOf('?');
    const path = q < 0 ? req.url! : req.url!.slice(0, q);
    inflight++;
    res.once('close', responseClosed);
    const fail = (err: unknown) => {
      req.resume();
      // Errors answered before a request id was set (401, 404, 405, a body refused): the client's id.
      const id = clientRequestId(req);
      if (id !== undefined && !res.headersSent && !res.hasHeader('x-request-id')) res.setHeader('x-request-id', id);
      if (!(err instanceof KvgateError)) logger.error({ err: (err as Error).message, path }, 'request failed');
      sendError(res, err);
    };
    const method = req.method ?? 'GET';
    try {
      const origin = req.headers.origin;
      if (cors && origin !== undefined && cors.handle(req, res, origin)) return; // a preflight, answered
      if (HEALTH_PATHS.has(path) && (method === 'GET' || method === 'HEAD')) {
        if (path === '/health') return void res.writeHead(200, { 'content-length': 0 }).end();
        const healthy = ds.list().filter((e) => e.healthy).length;
        const ready = !draining && pool.synced && healthy > 0;
        return sendJson(res, ready ? 200 : 503, { ready, draining, healthyEndpoints: healthy, source: pool.source.description, ...(pool.lastError ? { error: pool.lastError } : {}) }, {}, method === 'HEAD');
      }
      if (path === '/metrics') {
        void metrics.text().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t), fail);
        return;
      }
      if (path.startsWith('/dashboard') && serveDashboard(req, res, fleet, { authorize: (a) => keys.check(a) })) return;
      if (!keys.check(req.headers.authorization)) {
        throw new KvgateError(ErrorCode.Unauthorized, 'Incorrect API key provided.', { headers: { 'www-authenticate': 'Bearer' } });
      }
      if (path === '/v1/models') {
        if (method !== 'GET') throw methodNotAllowed(method, path, 'GET');
        return sendJson(res, 200, { object: 'list', data: director.servedModels() });
      }
      if (INFERENCE_PATHS.has(path)) {
        if (method !== 'POST') throw methodNotAllowed(method, path, 'POST');
        handleInference(req, res, path).catch(fail);
        return;
      }
      if (MODEL_ROUTED_PATHS.has(path) || path === '/version') {
        const allowed = path === '/version' ? 'GET' : 'POST';
        if (method !== allowed) throw methodNotAllowed(method, path, allowed);
        handleUtility(req, res, path).catch(fail);
        return;
      }
      throw new KvgateError(ErrorCode.NotFound, `no route for ${path}`);
    } catch (err) {
      fail(err);
    }
  };

  const server: Server = opts.tls
    ? createHttpsServer(
        {
          cert: readFileSync(opts.tls.cert),
          key: readFileSync(opts.tls.key),
          ca: opts.tls.clientCa ? readFileSync(opts.tls.clientCa) : undefined,
          requestCert: Boolean(opts.tls.clientCa),
          rejectUnauthorized: Boolean(opts.tls.clientCa),
          connectionsCheckingInterval: CHECK_INTERVAL_MS,
        },
        handler,
      )
    : createHttpServer({ connectionsCheckingInterval: CHECK_INTERVAL_MS }, handler);
  server.headersTimeout = t.requestHeadersMs;
  // Node's whole-request timer is a backstop behind the body timeouts, which answer first with a
  // JSON 408; it covers receiving the request only, never the (long, streamed) response.
  server.requestTimeout = t.requestBodyMs ? t.requestHeadersMs + t.requestBodyMs + 5_000 : 0;
  server.keepAliveTimeout = t.keepAliveMs;
  server.on('clientError', answerClientError);
  // Node's listen() takes an IPv6 address bare: [::1] (a library caller's, or a URL's spelling) would be looked up as a name.
  const listenHost = unbracketHost(opts.host ?? '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A deep accept queue (the kernel caps it at net.core.somaxconn): a burst of connections waits
      // there for the event loop instead of being reset (Node's default is 511).
      server.listen({ port: opts.port ?? 8080, host: listenHost, backlog: LISTEN_BACKLOG }, () => resolve());
    });
  } catch (err) {
    await stack.stop();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new KvgateError(ErrorCode.InvalidConfig, `port ${opts.port} on ${opts.host ?? '127.0.0.1'} is already in use: stop what holds it or give another --port`, { param: 'port' });
    // An address this machine does not have, or a name that does not resolve: say which flag.
    const hostProblem = listenHostProblem(opts.host ?? '127.0.0.1', e.code);
    if (hostProblem) throw new KvgateError(ErrorCode.InvalidConfig, hostProblem, { param: 'host' });
    if (e.code === 'EACCES') throw new KvgateError(ErrorCode.InvalidConfig, `--port ${opts.port}: permission denied (ports below 1024 need privileges): give a port from 1024`, { param: 'port' });
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = hostUrl(opts.tls ? 'https' : 'http', listenHost, port);

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      server.close();
      server.closeAllConnections();
      director.flow.queue.close('rejected-shutting-down');
      relief.stop();
      deadlines.stop();
      attemptTimers.stop();
      bodyTimers.stop();
      await stack.stop();
      await pools.destroy();
    })());
  return {
    url,
    port,
    router,
    director,
    kvEvents: pool.kvEvents,
    close,
    async drain() {
      draining = true;
      director.draining = true;
      await new Promise((r) => setTimeout(r, opts.drainSettleMs ?? 0));
      server.close(); // no new connections
      server.closeIdleConnections();
      if (inflight > 0) {
        // The timeout is cleared once the last response closes: left armed, it kept the process
        // alive for the whole --drain-timeout after the requests had finished.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          new Promise<void>((r) => idleWaiters.push(r)),
          new Promise((r) => (timer = setTimeout(r, opts.drainTimeoutMs ?? 30_000))),
        ]);
        clearTimeout(timer);
      }
      await close();
    },
  };
}
