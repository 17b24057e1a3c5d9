import * as grpc from '@grpc/grpc-js';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EndpointInfo } from '../router/api.js';
import { createRouter, type EffectiveConfig, type EndpointPicker } from '../router/index.js';
import { startMetricsScraper, type MetricsScraper } from '../datalayer/index.js';
import { EppMetrics } from '../router/observability/epp-metrics.js';
import type { Objectives } from '../router/objectives.js';
import { readEndpointsFile, watchEndpointsFile } from '../datalayer/sources/endpoints-file.js';
import { KubernetesEndpointSource, type KubernetesSourceOptions } from '../datalayer/sources/kubernetes-source.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { services, type ProcessingRequest } from './proto.js';
import { StreamProcessor } from './stream-processor.js';
import { selfSignedCertificate } from './self-signed.js';

export interface EppOptions {
  host?: string;
  grpcPort?: number;
  grpcHealthPort?: number;
  metricsPort?: number;
  config: EffectiveConfig;
  endpoints?: EndpointInfo[];
  endpointsFile?: string;
  /** Discover the endpoints of an InferencePool (Ready pods × target ports). */
  kubernetes?: Omit<KubernetesSourceOptions, 'logger'>;
  /** TLS on the ext_proc port (default on, self-signed unless `tls` is given). */
  secureServing?: boolean;
  tls?: { cert: Buffer; key: Buffer };
  maxBodyBytes?: number;
  trustRoutingHeaders?: boolean;
  /** InferenceObjective name → priority (used with trustRoutingHeaders). */
  objectives?: Objectives;
  metricsIntervalMs?: number;
  poolName?: string;
  logger?: Logger;
  random?: () => number;
}

export interface RunningEpp {
  grpcPort: number;
  grpcHealthPort: number;
  metricsPort: number;
  router: EndpointPicker;
  /** The certificate the ext_proc port serves (clients pin it in tests). */
  certificate?: Buffer;
  close(): Promise<void>;
}

const HEALTH_SERVICES = new Set(['', 'liveness', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor']);

function bind(server: grpc.Server, addr: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(addr, creds, (err, port) => (err ? reject(err) : resolve(port))));
}

/** Starts the Envoy ext_proc endpoint picker, its gRPC health service and Prometheus metrics. */
export async function startEppServer(o: EppOptions): Promise<RunningEpp> {
  const logger = o.logger ?? silentLogger();
  const host = o.host ?? '0.0.0.0';
  const router = createRouter({ config: o.config, random: o.random });
  const ds = router.datastore;
  let fileWatch: { close(): void } | undefined;
  let kube: KubernetesEndpointSource | undefined;
  if (o.kubernetes) {
    kube = new KubernetesEndpointSource({ ...o.kubernetes, logger });
    kube.start((l) => ds.setEndpoints(l));
  } else if (o.endpointsFile) {
    ds.setEndpoints(readEndpointsFile(o.endpointsFile));
    fileWatch = watchEndpointsFile(o.endpointsFile, (l) => ds.setEndpoints(l), (err) => logger.error({ err: err.message }, 'endpoints file rejected; keeping the previous endpoints'));
  } else ds.setEndpoints(o.endpoints ?? []);
  // Readiness means the endpoint set is known: always for static/file sources, once synced for Kubernetes.
  const synced = () => (kube ? kube.synced : true);
  const scraper: MetricsScraper = startMetricsScraper(ds, { intervalMs: o.metricsIntervalMs ?? 50 });
  const metrics = new EppMetrics(ds, { poolName: o.poolName ?? 'kvgate' });
  const { extProc, health } = services();
  const random = o.random ?? Math.random;

  const grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  grpcServer.addService(extProc, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, unknown>) => {
      new StreamProcessor(call, { router, metrics, maxBodyBytes: o.maxBodyBytes ?? 16 * 1024 * 1024, trustRoutingHeaders: o.trustRoutingHeaders ?? false, objectives: o.objectives, now: () => performance.now(), random });
    },
  });
  const secure = o.secureServing ?? true;
  const tls = secure ? (o.tls ?? selfSignedCertificate()) : undefined;
  const grpcPort = await bind(grpcServer, `${host}:${o.grpcPort ?? 9002}`, tls ? grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }], false) : grpc.ServerCredentials.createInsecure());

  const healthServer = new grpc.Server();
  healthServer.addService(health, {
    Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const svc = call.request.service ?? '';
      if (!HEALTH_SERVICES.has(svc)) return cb(null, { status: 'SERVICE_UNKNOWN' });
      // liveness: the process answers; readiness (and ext_proc, and ""): endpoints synced.
      const ok = svc === 'liveness' || synced();
      cb(null, { status: ok ? 'SERVING' : 'NOT_SERVING' });
    },
  });
  const grpcHealthPort = await bind(healthServer, `${host}:${o.grpcHealthPort ?? 9003}`, grpc.ServerCredentials.createInsecure());

  const http: HttpServer = createServer((req, res) => {
    if (req.url === '/metrics') void metrics.text().then((t) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(t));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => http.listen(o.metricsPort ?? 9090, host, () => r()));
  const metricsPort = (http.address() as AddressInfo).port;

  return {
    grpcPort,
    grpcHealthPort,
    metricsPort,
    router,
    certificate: tls?.cert,
    async close() {
      fileWatch?.close();
      await kube?.stop();
      await scraper.stop();
      await new Promise<void>((r) => {
        const force = setTimeout(() => grpcServer.forceShutdown(), 2000);
        grpcServer.tryShutdown(() => {
          clearTimeout(force);
          r();
        });
      });
      healthServer.forceShutdown();
      http.close();
    },
  };
}
