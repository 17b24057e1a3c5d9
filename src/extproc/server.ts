import * as grpc from '@grpc/grpc-js';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EndpointInfo } from '../router/api.js';
import type { EffectiveConfig, EndpointPicker, PromptTokenizer } from '../router/index.js';
import type { Director } from '../router/requestcontrol/index.js';
import type { ChatTemplates } from '../router/prompt/chat-templates.js';
import type { Objectives } from '../router/objectives.js';
import type { SourceSpec } from '../datalayer/pool-runtime.js';
import { startRoutingStack, type MetricSource } from '../runtime/routing-stack.js';
import type { KvEventIntake, KvEventIntakeOptions } from '../datalayer/kv-events/kv-event-intake.js';
import { sendError, sendJson } from '../shared/http.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { formatHostPort, unbracketHost } from '../shared/host-port.js';
import { anyAddress } from '../shared/any-address.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { services, type ProcessingRequest } from './proto.js';
import { StreamProcessor } from './stream-processor.js';
import { selfSignedCertificate } from './self-signed.js';
import { serveDashboard } from '../observability/index.js';
import type { FlowControlSettings } from '../router/index.js';

export interface EppOptions {
  /** Listen address of ext_proc, health and metrics; IPv6 bare or bracketed. Default: every interface, IPv6 and IPv4 (anyAddress). */
  host?: string;
  grpcPort?: number;
  grpcHealthPort?: number;
  metricsPort?: number;
  config: EffectiveConfig;
  endpoints?: EndpointInfo[];
  endpointsFile?: string;
  /** Discover the endpoints of an InferencePool (Ready pods × target ports). */
  kubernetes?: SourceSpec['kubernetes'];
  /** TLS on the ext_proc port (default on, self-signed unless `tls` is given). */
  secureServing?: boolean;
  tls?: { cert: Buffer; key: Buffer };
  maxBodyBytes?: number;
  trustRoutingHeaders?: boolean;
  /** InferenceObjective name → priority (used with trustRoutingHeaders). */
  objectives?: Objectives;
  chatTemplates?: ChatTemplates;
  defaultPriority?: number;
  debugScores?: boolean;
  accessLog?: boolean;
  metricsIntervalMs?: number;
  /** Active /health + /v1/models probes, ms (0 = none). Default 1000. */
  healthIntervalMs?: number;
  /**
   * Bearer key presented on the /v1/models probes (`--upstream-api-key`), for model servers started
   * with vLLM's --api-key. Inference requests go through Envoy, which must add the key itself.
   */
  upstreamApiKey?: string;
  poolName?: string;
  /** Where the engines' KV events come from (exact prefix matching); the intake always runs, subscribing to endpoints whose KV-event port is known. */
  kvEvents?: KvEventIntakeOptions;
  /** Router-side tokenizer for precise prefix matching (default: estimate, as kvgate sim). */
  tokenizer?: PromptTokenizer;
  logger?: Logger;
  random?: () => number;
  /** The queue the ext_proc stream waits in, and the dispatch gate (router/flowcontrol). */
  flowControl?: FlowControlSettings;
  /** Further series on the metrics port's /metrics (the InferenceObjective watcher's). */
  metricSources?: MetricSource[];
}

export interface RunningEpp {
  /** The address listened on (bare; `::` = every interface, IPv6 and IPv4). */
  host: string;
  grpcPort: number;
  grpcHealthPort: number;
  metricsPort: number;
  router: EndpointPicker;
  director: Director;
  /** The pool's KV-event intake (streams, exact index). */
  kvEvents?: KvEventIntake;
  /** The certificate the ext_proc port serves (clients pin it in tests). */
  certificate?: Buffer;
  close(): Promise<void>;
}

/**
 * gRPC health service names that mean "ready" (endpoint set known, as /ready): `readiness`, the
 * ext_proc service Envoy's cluster health check names, `""`, and `inference-extension`, the name
 * the GIE's EPP Deployments probe (`grpc: {port: 9003, service: inference-extension}`).
 * `liveness` is SERVING whenever the process answers; any other name is NOT_FOUND (the gRPC
 * health protocol's answer to Check for an unknown service).
 */
const READINESS_SERVICES = new Set(['', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor', 'inference-extension']);

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials, flag: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(addr, creds, (err, port) => (err ? reject(new KvgateError(ErrorCode.InvalidConfig, `cannot listen on ${addr} (${flag}): ${/EADDRINUSE|address.*in use/i.test(err.message) ? 'the port is already in use' : err.message}`, { param: flag })) : resolve(port))),
  );
}

/** Starts the Envoy ext_proc endpoint picker, its gRPC health service and Prometheus metrics. */
export async function startEppServer(o: EppOptions): Promise<RunningEpp> {
  const logger = o.logger ?? silentLogger();
  // Bare for listen(), bracketed next to a port for gRPC (`[::1]:9002`; `::1:9002` is read as host `:`).
  // The default is every interface, IPv6 included: 0.0.0.0 left the EPP unreachable in an IPv6-only cluster.
  const host = o.host !== undefined ? unbracketHost(o.host) : await anyAddress();
  const stack = await startRoutingStack({ ...o, logger, accessLog: o.accessLog ?? false });
  const { router, pool, metrics, fleet, director } = stack;
  const ds = router.datastore;
  // Readiness means the endpoint set is known: always for static/file sources, once synced for Kubernetes.
  const synced = () => pool.synced;
  const { extProc, health } = services();
  const random = o.random ?? Math.random;

  const grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  grpcServer.addService(extProc, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, unknown>) => {
      new StreamProcessor(call, { director, maxBodyBytes: o.maxBodyBytes ?? 16 * 1024 * 1024, now: () => performance.now(), random, logger });
    },
  });
  const healthServer = new grpc.Server();
  let http: HttpServer | undefined;
  let grpcPort: number;
  let grpcHealthPort: number;
  const secure = o.secureServing ?? true;
  const tls = secure ? (o.tls ?? selfSignedCertificate()) : undefined;
  try {
    grpcPort = await bind(grpcServer, formatHostPort(host, o.grpcPort ?? 9002), tls ? grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }], false) : grpc.ServerCredentials.createInsecure(), '--grpc-port');

    healthServer.addService(health, {
      Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const svc = call.request.service ?? '';
        if (svc === 'liveness') return cb(null, { status: 'SERVING' });
        if (!READINESS_SERVICES.has(svc)) return cb({ code: grpc.status.NOT_FOUND, details: `unknown health service "${svc}" (known: liveness, ${[...READINESS_SERVICES].map((n) => JSON.stringify(n)).join(', ')})` });
        cb(null, { status: synced() ? 'SERVING' : 'NOT_SERVING' });
      },
    });
    grpcHealthPort = await bind(healthServer, formatHostPort(host, o.grpcHealthPort ?? 9003), grpc.ServerCredentials.createInsecure(), '--grpc-health-port');

    http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const head = req.method === 'HEAD';
      if (serveDashboard(req, res, fleet)) return;
      if (path === '/metrics') void metrics.text().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t));
      // Plain-HTTP liveness and readiness beside the gRPC health service (probes that cannot speak gRPC, STRICT mTLS meshes).
      else if (path === '/health') res.writeHead(200, { 'content-length': 0 }).end();
      // `error`: why the pool's data is not (or no longer) current — a missing pool, a 403, a rejected
      // file edit, a model server refusing /v1/models without --upstream-api-key (PoolRuntime.lastError).
      else if (path === '/ready') sendJson(res, synced() ? 200 : 503, { ready: synced(), source: pool.source.description, endpoints: ds.list().length, ...(pool.lastError ? { error: pool.lastError } : {}) }, {}, head);
      // An OpenAI-style error body, as the gateway answers an unknown path (it was an empty 404).
      else sendError(res, new KvgateError(ErrorCode.NotFound, `no route for ${path} (the EPP metrics port serves /metrics, /health, /ready and /dashboard)`));
    });
    const listening = http;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', (err: NodeJS.ErrnoException) => reject(new KvgateError(ErrorCode.InvalidConfig, `cannot listen on ${formatHostPort(host, o.metricsPort ?? 9090)} (--metrics-port): ${err.code === 'EADDRINUSE' ? 'the port is already in use' : err.message}`, { param: '--metrics-port' })));
      listening.listen(o.metricsPort ?? 9090, host, () => resolve());
    });
  } catch (err) {
    // A port in use (say): release what started so the process can exit with the message.
    grpcServer.forceShutdown();
    healthServer.forceShutdown();
    http?.close();
    await stack.stop();
    throw err;
  }
  const httpServer = http!;
  const metricsPort = (httpServer.address() as AddressInfo).port;

  return {
    host,
    grpcPort,
    grpcHealthPort,
    metricsPort,
    router,
    director,
    kvEvents: pool.kvEvents,
    certificate: tls?.cert,
    async close() {
      director.flow.queue.close('rejected-shutting-down');
      await stack.stop();
      await new Promise<void>((r) => {
        const force = setTimeout(() => grpcServer.forceShutdown(), 2000);
        grpcServer.tryShutdown(() => {
          clearTimeout(force);
          r();
        });
      });
      healthServer.forceShutdown();
      httpServer.close();
    },
  };
}
