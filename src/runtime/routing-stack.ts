import type { EndpointInfo } from '../router/api.js';
import type { Objectives } from '../router/objectives.js';
import type { ChatTemplates } from '../router/prompt/chat-templates.js';
import { createRouter, MemoryDatastore, type EffectiveConfig, type EndpointPicker, type PromptTokenizer } from '../router/index.js';
import { Director } from '../router/requestcontrol/index.js';
import { EppMetrics } from '../router/observability/epp-metrics.js';
import { PoolRuntime, createEndpointSource, type SourceSpec } from '../datalayer/pool-runtime.js';
import type { KvEventIntakeOptions } from '../datalayer/kv-events/kv-event-intake.js';
import { warnWithoutEventSource } from '../datalayer/kv-events/event-source-warning.js';
import { FleetRecorder } from '../observability/index.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { VERSION } from '../shared/version.js';
import type { FlowControlSettings } from '../router/index.js';
import type { Registry } from 'prom-client';

/** Something with its own series on the process's /metrics (the EPP's InferenceObjective watcher). */
export interface MetricSource {
  registerMetrics(registry: Registry): void;
}

/** Everything one routing process needs besides its protocol (HTTP gateway or ext_proc). */
export interface RoutingStackOptions {
  config: EffectiveConfig;
  /** Exactly one endpoint source. */
  endpoints?: EndpointInfo[];
  endpointsFile?: string;
  kubernetes?: SourceSpec['kubernetes'];
  /** InferencePool name for metric labels. Default "kvgate". */
  poolName?: string;
  logger?: Logger;
  random?: () => number;
  // pool runtime
  metricsIntervalMs?: number;
  healthIntervalMs?: number;
  ejectAfter?: number;
  cooldownMs?: number;
  /** undici connect options for HTTPS endpoints (scraping, probing). */
  connect?: Record<string, unknown>;
  /** Bearer key presented to the model servers on the /v1/models probes (`--upstream-api-key`). */
  upstreamApiKey?: string;
  /**
   * Where the engines' KV events come from (`--kv-events-*`). The intake always runs: endpoints
   * whose metadata names a KV-event port are subscribed to even without these.
   */
  kvEvents?: KvEventIntakeOptions;
  /** Router-side tokenizer for precise prefix matching (default: estimate, as kvgate sim). */
  tokenizer?: PromptTokenizer;
  // request lifecycle
  accessLog?: boolean;
  maxAttempts?: number;
  debugScores?: boolean;
  trustRoutingHeaders?: boolean;
  defaultPriority?: number;
  objectives?: Objectives;
  chatTemplates?: ChatTemplates;
  /** The gateway queue and dispatch gate (router/flowcontrol); on by default. */
  flowControl?: FlowControlSettings;
  /** Further series on /metrics, registered once the registry exists. */
  metricSources?: MetricSource[];
}

export interface RoutingStack {
  router: EndpointPicker;
  pool: PoolRuntime;
  metrics: EppMetrics;
  fleet: FleetRecorder;
  director: Director;
  stop(): Promise<void>;
}

/**
 * The composition root shared by `kvgate serve`/`up` (gateway) and `kvgate epp`: one scheduler,
 * one pool runtime feeding its datastore, the EPP metrics (with per-plugin timing), the live
 * fleet recorder, and the request lifecycle wired to all of them. The ingresses add only their
 * protocol.
 */
export async function startRoutingStack(o: RoutingStackOptions): Promise<RoutingStack> {
  const logger = o.logger ?? silentLogger();
  const poolName = o.poolName ?? 'kvgate';
  // The pool runtime owns the KV-event intake, whose view the router's precise plugins read: the
  // datastore comes first, shared by both.
  const ds = new MemoryDatastore();
  const source = createEndpointSource({ endpoints: o.endpointsFile || o.kubernetes ? undefined : (o.endpoints ?? []), endpointsFile: o.endpointsFile, kubernetes: o.kubernetes }, logger);
  const pool = new PoolRuntime({
    source,
    datastore: ds,
    logger,
    metricsIntervalMs: o.metricsIntervalMs,
    healthIntervalMs: o.healthIntervalMs,
    ejectAfter: o.ejectAfter,
    cooldownMs: o.cooldownMs,
    connect: o.connect,
    upstreamApiKey: o.upstreamApiKey,
    kvEvents: o.kvEvents ?? {},
  });
  // The router reports plugin timings to the metrics, which read the router's index size: built in that order, joined late.
  const late: { metrics?: EppMetrics } = {};
  const router = createRouter({
    config: o.config,
    random: o.random,
    datastore: ds,
    kvEvents: pool.kvEvents?.view,
    tokenizer: o.tokenizer,
    observePlugin: (point, type, name, s) => late.metrics?.observePlugin(point, type, name, s),
  });
  const metrics = (late.metrics = new EppMetrics(ds, { poolName, logger, prefixIndexSize: () => router.prefixIndexEntries, build: { commit: process.env.KVGATE_COMMIT ?? 'unknown', ref: `v${VERSION}` } }));
  // A KV-event bind address in use is a startup error, before anything else runs.
  try {
    await pool.kvEvents?.start();
  } catch (err) {
    await pool.stop();
    throw err;
  }
  pool.start();
  pool.kvEvents?.registerMetrics(metrics.registry);
  pool.source.registerMetrics?.(metrics.registry);
  for (const m of o.metricSources ?? []) m.registerMetrics(metrics.registry);
  warnWithoutEventSource(o, logger);
  const fleet = new FleetRecorder(ds, { pool: poolName }).start();
  const director = new Director({
    router,
    metrics,
    logger,
    accessLog: o.accessLog,
    maxAttempts: o.maxAttempts,
    debugScores: o.debugScores,
    trustRoutingHeaders: o.trustRoutingHeaders,
    defaultPriority: o.defaultPriority,
    objectives: o.objectives,
    chatTemplates: o.chatTemplates,
    feedback: pool,
    observer: fleet,
    flowControl: o.flowControl,
  });
  return {
    router,
    pool,
    metrics,
    fleet,
    director,
    async stop() {
      fleet.stop();
      await pool.stop();
    },
  };
}
