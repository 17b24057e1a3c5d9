import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse, type IncomingHttpHeaders } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import type { EndpointInfo, RequestUsage } from '../router/api.js';
import type { Objectives } from '../router/objectives.js';
import { createRouter, parseOpenAIRequest, type EffectiveConfig, type EndpointPicker } from '../router/index.js';
import { startMetricsScraper, type MetricsScraper } from '../datalayer/index.js';
import { EppMetrics } from '../router/observability/epp-metrics.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { readBody, sendError, sendJson } from '../shared/http.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { readEndpointsFile, watchEndpointsFile } from '../datalayer/sources/endpoints-file.js';
import { ApiKeys } from './api-keys.js';
import { EndpointHealth } from '../datalayer/endpoint-health.js';
import { UsageTap } from '../router/observability/usage-tap.js';
import { ResponseSink, DiscardSink } from './response-sink.js';
import { ClientGone } from './client-gone.js';
import { FleetRecorder, serveDashboard } from '../observability/index.js';

export interface GatewayOptions {
  host?: string;
  port?: number;
  config: EffectiveConfig;
  endpoints?: EndpointInfo[];
  endpointsFile?: string;
  apiKeys?: string[];
  trustRoutingHeaders?: boolean;
  /** InferenceObjective name → priority (used with trustRoutingHeaders). */
  objectives?: Objectives;
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
  /** Stops accepting, lets in-flight requests finish (up to drainTimeoutMs), then closes. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
// Request headers the gateway sets itself.
const SET_BY_GATEWAY = new Set(['host', 'content-length']);
const ROUTING_HEADERS = new Set(['x-gateway-destination-endpoint', 'x-gateway-destination-endpoint-served', 'x-gateway-destination-endpoint-subset', 'x-gateway-inference-objective', 'x-llm-d-inference-objective', 'x-kvgate-priority']);
const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

type AttemptResult = { kind: 'done'; status: number; usage?: RequestUsage; ttftMs?: number } | { kind: 'retry'; reason: string; status?: number } | { kind: 'client-gone' };

/** Starts the OpenAI-compatible cache-aware gateway in this process. */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const logger = opts.logger ?? silentLogger();
  const maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const maxAttempts = opts.maxAttempts ?? 3;
  const router = createRouter({ config: opts.config, random: opts.random });
  const ds = router.datastore;
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
  const setEndpoints = (list: EndpointInfo[]) => {
    ds.setEndpoints(list);
    const keep = new Set(list.map((e) => e.id));
    for (const [id, p] of pools) {
      if (keep.has(id)) continue;
      pools.delete(id);
      void p.close().catch(() => undefined);
    }
  };
  let fileWatch: { close(): void } | undefined;
  if (opts.endpointsFile) {
    setEndpoints(readEndpointsFile(opts.endpointsFile));
    fileWatch = watchEndpointsFile(opts.endpointsFile, (l) => {
      setEndpoints(l);
      logger.info({ endpoints: l.length }, 'endpoints file reloaded');
    }, (err) => logger.error({ err: err.message }, 'endpoints file rejected; keeping the previous endpoints'));
  } else setEndpoints(opts.endpoints ?? []);

  const health = new EndpointHealth(ds, {
    intervalMs: opts.healthIntervalMs ?? 1000,
    ejectAfter: opts.ejectAfter ?? 3,
    cooldownMs: opts.cooldownMs ?? 1000,
    maxCooldownMs: 30_000,
    connect: upstreamConnect,
  }, logger);
  health.start();
  const scraper: MetricsScraper = startMetricsScraper(ds, { intervalMs: opts.metricsIntervalMs ?? 50, connect: upstreamConnect });
  const metrics = new EppMetrics(ds, { poolName: opts.poolName ?? 'kvgate' });
  const fleet = new FleetRecorder(ds, { pool: opts.poolName ?? 'kvgate' }).start(); // live dashboard
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

  function forward(ep: EndpointInfo, path: string, headers: Record<string, string>, body: Buffer, res: ServerResponse, signal: ClientGone, canRetry: boolean, extraHeaders: Record<string, string>, requestId: string, t0: number): Promise<AttemptResult> {
    return new Promise((resolve) => {
      let committed = false;
      let sse = false;
      let status = 0;
      let ttftMs: number | undefined;
      let tap: UsageTap | undefined;
      let retry: AttemptResult | undefined;
      poolFor(ep).stream(
        { path, method: 'POST', headers, body, signal },
        ({ statusCode, headers: uh }) => {
          status = statusCode;
          if (canRetry && RETRYABLE.has(statusCode)) {
            retry = { kind: 'retry', reason: `status ${statusCode}`, status: statusCode };
            return new DiscardSink();
          }
          committed = true;
          const out: Record<string, string | string[]> = {};
          for (const k in uh) {
            const v = uh[k];
            if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
          }
          const ct = String(uh['content-type'] ?? '');
          sse = ct.includes('text/event-stream');
          Object.assign(out, extraHeaders);
          res.writeHead(statusCode, out);
          if (sse) res.flushHeaders();
          tap = new UsageTap(sse);
          return new ResponseSink(res, tap, () => {
            ttftMs = performance.now() - t0;
            router.onFirstToken(requestId, performance.now());
          });
        },
        (err) => {
          if (!err) {
            health.succeeded(ep.id);
            resolve(retry ?? { kind: 'done', status, usage: tap?.finish(), ttftMs });
            return;
          }
          if (signal.aborted) return resolve({ kind: 'client-gone' });
          health.failed(ep.id, err.message);
          if (!committed) return resolve({ kind: 'retry', reason: err.message });
          // Bytes already flowed: end the stream with an error event (SSE) or cut the body.
          if (sse && !res.destroyed) {
            res.end(`data: ${JSON.stringify({ error: { message: `upstream ${ep.id} failed mid-stream: ${err.message}`, type: 'server_error', param: null, code: ErrorCode.UpstreamFailed } })}\n\n`);
          } else res.destroy();
          resolve({ kind: 'done', status, usage: tap?.finish(), ttftMs });
        },
      );
    });
  }

  async function handleInference(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const t0 = performance.now();
    const body = await readBody(req, maxBody);
    const { route } = parseOpenAIRequest(path, body, {
      headers: req.headers,
      trustRoutingHeaders: opts.trustRoutingHeaders,
      defaultPriority: opts.defaultPriority,
      objectives: opts.objectives,
    });
    const models = health.models();
    if (models.size > 0 && !models.has(route.model)) {
      throw new KvgateError(ErrorCode.ModelNotFound, `The model \`${route.model}\` does not exist.`, { param: 'model' });
    }
    const s0 = performance.now();
    let pick;
    try {
      pick = router.pick(route, s0);
    } catch (err) {
      if (err instanceof KvgateError && err.status === 429) fleet.recordShed(route.id);
      throw err;
    }
    const ticket = fleet.recordDecision({ requestId: route.id, endpointId: pick.endpoints[0].id, prefixMatch: pick.prefixMatch, scores: () => pick.scores });
    metrics.observeScheduling((performance.now() - s0) / 1000, pick.prefixMatch);
    const gone = new ClientGone();
    const onClose = () => {
      if (!res.writableFinished) gone.abort();
    };
    res.on('close', onClose);
    const headers = upstreamHeaders(req.headers, route.id, body.length);
    let result: AttemptResult = { kind: 'retry', reason: 'no endpoint' };
    let endpoint: EndpointInfo | undefined;
    let attempts = 0;
    const tried: string[] = [];
    try {
      for (const ep of pick.endpoints) {
        if (attempts >= maxAttempts) break;
        if (attempts > 0) {
          router.onRetry(route.id, ep.id, performance.now());
          fleet.recordRetry(ticket, ep.id);
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempts)); // jittered backoff
          if (gone.aborted) break;
        }
        attempts++;
        endpoint = ep;
        tried.push(ep.id);
        const extra: Record<string, string> = { 'x-gateway-destination-endpoint-served': ep.id, 'x-request-id': route.id };
        if (opts.debugScores) extra['x-kvgate-scores'] = JSON.stringify(pick.scores.map((s) => ({ endpoint: s.endpointId, total: +s.total.toFixed(4), ...s.byPlugin })));
        const canRetry = attempts < Math.min(maxAttempts, pick.endpoints.length);
        result = await forward(ep, req.url!, headers, body, res, gone, canRetry, extra, route.id, t0);
        if (result.kind !== 'retry') break;
        router.onFailure(route.id, ep.id, performance.now());
        logger.warn({ requestId: route.id, endpoint: ep.id, reason: result.reason }, 'upstream attempt failed; trying the next endpoint');
      }
      if (result.kind === 'retry' && !res.headersSent) {
        const e = new KvgateError(ErrorCode.UpstreamFailed, `all ${attempts} upstream attempts failed (last: ${result.reason})`, { status: result.status === 429 ? 429 : result.status ? 502 : 503 });
        sendError(res, e);
      }
    } finally {
      res.off('close', onClose);
      const usage = result.kind === 'done' ? result.usage : undefined;
      router.onComplete(route.id, performance.now(), usage);
      const status = result.kind === 'done' ? result.status : result.kind === 'client-gone' ? 499 : res.statusCode;
      const durationS = (performance.now() - t0) / 1000;
      metrics.observeRequest({
        model: route.model,
        targetModel: route.model,
        priority: route.priority,
        endpoint: endpoint?.id,
        status,
        durationS,
        inputTokens: usage?.promptTokens,
        outputTokens: usage?.completionTokens,
        cachedTokens: usage?.cachedTokens,
      });
      if (endpoint) fleet.recordCompletion(ticket, { endpointId: endpoint.id, status, stream: route.stream, e2eMs: durationS * 1000, ttftMs: result.kind === 'done' ? result.ttftMs : undefined, promptTokens: usage?.promptTokens, completionTokens: usage?.completionTokens, cachedTokens: usage?.cachedTokens });
      if (opts.accessLog !== false) {
        logger.info({
          requestId: route.id,
          model: route.model,
          endpoint: endpoint?.id,
          status,
          attempts,
          stream: route.stream,
          promptTokens: usage?.promptTokens,
          completionTokens: usage?.completionTokens,
          cachedTokens: usage?.cachedTokens,
          ttftMs: result.kind === 'done' && result.ttftMs !== undefined ? +result.ttftMs.toFixed(2) : undefined,
          latencyMs: +(durationS * 1000).toFixed(2),
        }, 'request');
      }
    }
  }

  function modelsUnion(res: ServerResponse): void {
    const data = [...health.models()].sort().map((id) => ({ id, object: 'model', created: 0, owned_by: 'kvgate' }));
    sendJson(res, 200, { object: 'list', data });
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
    try {
      if (path === '/health') return void res.writeHead(200, { 'content-length': 0 }).end();
      if (path === '/ready') {
        const ready = !draining && ds.list().some((e) => e.healthy);
        return sendJson(res, ready ? 200 : 503, { ready, draining, healthyEndpoints: ds.list().filter((e) => e.healthy).length });
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
        if (req.method !== 'GET') throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${req.method} is not allowed on ${path}`);
        return modelsUnion(res);
      }
      if (path === '/v1/completions' || path === '/v1/chat/completions') {
        if (req.method !== 'POST') throw new KvgateError(ErrorCode.MethodNotAllowed, `method ${req.method} is not allowed on ${path}`);
        if (draining) throw new KvgateError(ErrorCode.NotReady, 'the gateway is shutting down');
        handleInference(req, res, path).catch(fail);
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = opts.host ?? '127.0.0.1';
  const url = `${opts.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closed: Promise<void> | undefined;
  const close = () =>
    (closed ??= (async () => {
      fileWatch?.close();
      fleet.stop();
      server.close();
      server.closeAllConnections();
      await scraper.stop();
      await health.close();
      await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => undefined)));
    })());
  return {
    url,
    port,
    router,
    close,
    async drain() {
      draining = true;
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

