import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { Pool } from 'undici';
import type { EndpointInfo } from '../router/api.js';
import type { Objectives } from '../router/objectives.js';
import type { EffectiveConfig, EndpointPicker } from '../router/index.js';
import type { Director, RequestHandle } from '../router/requestcontrol/index.js';
import { assertJsonContentType } from '../router/parse-request.js';
import type { ChatTemplates } from '../router/prompt/chat-templates.js';
import { KvgateError, ErrorCode, toOpenAIError } from '../shared/errors.js';
import { parseJsonBody, readBody, sendError, sendJson } from '../shared/http.js';
import { assertJsonDepth } from '../shared/json-depth.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import type { SourceSpec } from '../datalayer/pool-runtime.js';
import { startRoutingStack } from '../runtime/routing-stack.js';
import { ApiKeys } from './api-keys.js';
import { ResponseSink, DiscardSink } from './response-sink.js';
import { ClientGone } from './client-gone.js';
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
  logger?: Logger;
  random?: () => number;
}

export interface RunningGateway {
  url: string;
  port: number;
  router: EndpointPicker;
  director: Director;
  /** Stops accepting, lets in-flight requests finish (up to drainTimeoutMs), then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
// Request headers the gateway sets itself.
const SET_BY_GATEWAY = new Set(['host', 'content-length', 'x-request-id']);
const ROUTING_HEADERS = new Set(['x-gateway-destination-endpoint', 'x-gateway-destination-endpoint-served', 'x-gateway-destination-endpoint-subset', 'x-gateway-inference-objective', 'x-llm-d-inference-objective', 'x-kvgate-priority']);
const INFERENCE_PATHS = new Set(['/v1/completions', '/v1/chat/completions']);
// Model-routed utility endpoints of vLLM: sent to an endpoint serving the body's model.
const MODEL_ROUTED_PATHS = new Set(['/tokenize', '/detokenize']);
const HEALTH_PATHS = new Set(['/health', '/ready']);

type Attempt = { kind: 'done'; status: number } | { kind: 'retry' } | { kind: 'client-gone' };

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
  const upstreamConnect = opts.upstreamTls
    ? {
        ca: opts.upstreamTls.ca ? readFileSync(opts.upstreamTls.ca) : undefined,
        cert: opts.upstreamTls.cert ? readFileSync(opts.upstreamTls.cert) : undefined,
        key: opts.upstreamTls.key ? readFileSync(opts.upstreamTls.key) : undefined,
      }
    : undefined;
  const pools = new Map<string, Pool>();
  const poolFor = (e: EndpointInfo) => {
    let p = pools.get(e.id);
    if (!p) {
      p = new Pool(e.url, { connections: 128, pipelining: 1, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connect: upstreamConnect });
      pools.set(e.id, p);
    }
    return p;
  };
  const stack = startRoutingStack({ ...opts, connect: upstreamConnect, logger });
  const { router, pool, metrics, fleet, director } = stack;
  const ds = router.datastore;
  ds.subscribe({
    endpointRemoved(id) {
      const p = pools.get(id);
      pools.delete(id);
      void p?.close().catch(() => undefined);
    },
  });
  let draining = false;
  let inflight = 0;
  let idleWaiters: (() => void)[] = [];

  function upstreamHeaders(h: IncomingHttpHeaders, requestId: string, len: number): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k in h) {
      const v = h[k];
      if (v === undefined || HOP_BY_HOP.has(k) || SET_BY_GATEWAY.has(k) || ROUTING_HEADERS.has(k)) continue;
      if (k === 'authorization' && keys.enabled) continue; // the gateway's key is not the model server's
      out[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    out['content-length'] = String(len);
    out['x-request-id'] = requestId;
    return out;
  }

  /** One attempt on one endpoint: streams the committed response to the client through the handle. */
  function forward(h: RequestHandle, ep: EndpointInfo, path: string, headers: Record<string, string>, res: ServerResponse, signal: ClientGone): Promise<Attempt> {
    return new Promise((resolve) => {
      let committed = false;
      let sse = false;
      let status = 0;
      let retry = false;
      poolFor(ep).stream(
        { path, method: 'POST', headers, body: h.body, signal },
        ({ statusCode, headers: uh }) => {
          status = statusCode;
          if (h.upstreamStatus(statusCode) === 'retry') {
            retry = true;
            return new DiscardSink();
          }
          committed = true;
          const out: Record<string, string | string[]> = {};
          for (const k in uh) {
            const v = uh[k];
            if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'content-length') out[k] = v;
          }
          const ct = String(uh['content-type'] ?? '');
          sse = ct.includes('text/event-stream');
          h.responseStarted(statusCode, ct);
          // Keep the upstream's length when bytes pass through untouched.
          if (uh['content-length'] !== undefined && !sse) out['content-length'] = uh['content-length'];
          Object.assign(out, h.responseHeaders());
          res.writeHead(statusCode, out);
          if (sse) res.flushHeaders();
          return new ResponseSink(res, h);
        },
        (err) => {
          if (!err) return resolve(retry ? { kind: 'retry' } : { kind: 'done', status });
          if (signal.aborted) return resolve({ kind: 'client-gone' });
          if (!committed) {
            h.attemptFailed(err.message);
            return resolve({ kind: 'retry' });
          }
          director.opts.feedback?.failed(ep.id, err.message);
          // Bytes already flowed: end the stream with an error event (SSE) or cut the body.
          if (sse && !res.destroyed) {
            res.end(`data: ${JSON.stringify({ error: { message: `upstream ${ep.id} failed mid-stream: ${err.message}`, type: 'server_error', param: null, code: ErrorCode.UpstreamFailed } })}\n\n`);
          } else res.destroy();
          resolve({ kind: 'done', status });
        },
      );
    });
  }

  async function handleInference(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const body = await readBody(req, maxBody);
    const h = director.begin({ ingress: 'gateway', path, headers: req.headers, body });
    await h.schedule(); // throws (already recorded) on 4xx/5xx admission outcomes
    const gone = new ClientGone();
    const onClose = () => {
      if (!res.writableFinished) gone.abort();
    };
    res.on('close', onClose);
    let result: Attempt = { kind: 'retry' };
    try {
      const headers = upstreamHeaders(req.headers, h.externalId, h.body.length);
      for (let ep = h.nextEndpoint(); ep; ep = h.nextEndpoint()) {
        if (h.attempts > 1) {
          await new Promise((r) => setTimeout(r, h.retryDelayMs(random)));
          if (gone.aborted) {
            result = { kind: 'client-gone' };
            break;
          }
        }
        result = await forward(h, ep, req.url!, headers, res, gone);
        if (result.kind !== 'retry') break;
      }
      if (result.kind === 'retry' && !res.headersSent) sendError(res, h.exhaustedError());
    } finally {
      res.off('close', onClose);
      const status = result.kind === 'done' ? result.status : result.kind === 'client-gone' ? 499 : res.statusCode;
      h.finish({ status, errorCode: result.kind === 'retry' ? ErrorCode.UpstreamFailed : undefined });
    }
  }

  /** /tokenize, /detokenize: to a ready endpoint that serves the body's model; /version: to any ready endpoint. */
  async function handleUtility(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let body: Buffer | undefined;
    let ep: EndpointInfo;
    if (MODEL_ROUTED_PATHS.has(path)) {
      assertJsonContentType(req.headers['content-type']);
      body = await readBody(req, maxBody);
      assertJsonDepth(body);
      const model = parseJsonBody(body).model;
      if (typeof model !== 'string' || !model) throw new KvgateError(ErrorCode.MissingModel, 'model not found in request body', { param: 'model' });
      const cands = director.candidates(model);
      ep = cands[Math.floor(random() * cands.length)].info;
    } else {
      ep = director.routeHeaderOnly(undefined, random);
    }
    const headers = upstreamHeaders(req.headers, req.headers['x-request-id']?.toString() ?? `kvgate-${Date.now().toString(36)}`, body?.length ?? 0);
    if (!body) delete headers['content-length'];
    const r = await poolFor(ep).request({ path: req.url!, method: req.method as 'GET' | 'POST', headers, body });
    const out: Record<string, string | string[]> = {};
    for (const k in r.headers) {
      const v = r.headers[k];
      if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
    }
    out['x-gateway-destination-endpoint-served'] = ep.id;
    res.writeHead(r.statusCode, out);
    for await (const chunk of r.body) res.write(chunk);
    res.end();
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const q = req.url!.indexOf('?');
    const path = q < 0 ? req.url! : req.url!.slice(0, q);
    const done = () => {
      if (--inflight === 0 && idleWaiters.length) {
        for (const w of idleWaiters) w();
        idleWaiters = [];
      }
    };
    inflight++;
    res.once('close', done);
    const fail = (err: unknown) => {
      req.resume();
      if (!(err instanceof KvgateError)) logger.error({ err: (err as Error).message, path }, 'request failed');
      sendError(res, err);
    };
    const method = req.method ?? 'GET';
    try {
      if (HEALTH_PATHS.has(path) && (method === 'GET' || method === 'HEAD')) {
        if (path === '/health') return void res.writeHead(200, { 'content-length': 0 }).end();
        const healthy = ds.list().filter((e) => e.healthy).length;
        const ready = !draining && pool.synced && healthy > 0;
        return sendJson(res, ready ? 200 : 503, { ready, draining, healthyEndpoints: healthy, source: pool.source.description }, {}, method === 'HEAD');
      }
      if (path === '/metrics') {
        void metrics.text().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t), fail);
        return;
      }
      if (serveDashboard(req, res, fleet, { authorize: (a) => keys.check(a) })) return;
      if (!keys.check(req.headers.authorization)) {
        throw new KvgateError(ErrorCode.Unauthorized, 'Incorrect API key provided.', { headers: { 'www-authenticate': 'Bearer' } });
      }
      if (path === '/v1/models') {
        if (method !== 'GET') throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${method} is not allowed on ${path}`);
        return sendJson(res, 200, { object: 'list', data: director.servedModels() });
      }
      if (INFERENCE_PATHS.has(path)) {
        if (method !== 'POST') throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${method} is not allowed on ${path}`);
        handleInference(req, res, path).catch(fail);
        return;
      }
      if (MODEL_ROUTED_PATHS.has(path) || path === '/version') {
        if (method !== (path === '/version' ? 'GET' : 'POST')) throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${method} is not allowed on ${path}`);
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
        },
        handler,
      )
    : createHttpServer(handler);
  server.headersTimeout = 15_000;
  server.requestTimeout = 0; // long generations stream for minutes
  server.keepAliveTimeout = 65_000; // above common load-balancer idle timeouts (60 s)
  server.on('clientError', answerClientError);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => resolve());
    });
  } catch (err) {
    await stack.stop();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new KvgateError(ErrorCode.InvalidConfig, `port ${opts.port} on ${opts.host ?? '127.0.0.1'} is already in use: stop what holds it or give another --port`, { param: 'port' });
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      server.close();
      server.closeAllConnections();
      await stack.stop();
      await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => undefined)));
    })());
  return {
    url,
    port,
    router,
    director,
    close,
    async drain() {
      draining = true;
      director.draining = true;
      await new Promise((r) => setTimeout(r, opts.drainSettleMs ?? 0));
      server.close(); // no new connections
      server.closeIdleConnections();
      if (inflight > 0) {
        await Promise.race([
          new Promise<void>((r) => idleWaiters.push(r)),
          new Promise((r) => setTimeout(r, opts.drainTimeoutMs ?? 30_000)),
        ]);
      }
      await close();
    },
  };
}
