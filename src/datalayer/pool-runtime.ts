import type { Datastore, EndpointInfo } from '../router/api.js';
import type { EndpointFeedback } from '../router/requestcontrol/types.js';
import { silentLogger, type Logger } from '../shared/logger.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { EndpointHealth } from './endpoint-health.js';
import { checkScrapeInterval, startMetricsScraper, type MetricsScraper } from './metrics-scraper.js';
import type { EndpointSource } from './sources/endpoint-source.js';
import { StaticEndpointSource } from './sources/static-source.js';
import { FileEndpointSource } from './sources/file-source.js';
import { KubernetesEndpointSource, type KubernetesSourceOptions } from './sources/kubernetes-source.js';
import { KvEventIntake, type KvEventIntakeOptions } from './kv-events/kv-event-intake.js';

export interface PoolOptions {
  source: EndpointSource;
  datastore: Datastore;
  logger?: Logger;
  /** `/metrics` scrape period, ms (GIE's refresh interval). Default 50. */
  metricsIntervalMs?: number;
  /** Active /health + /v1/models probe period, ms; 0 = none. Default 1000. */
  healthIntervalMs?: number;
  /** Eject endpoints whose /health probe fails (default: yes, except for Kubernetes pools). */
  ejectOnProbe?: boolean;
  /** Consecutive transport failures that eject an endpoint. Default 3. */
  ejectAfter?: number;
  /** First ejection cool-down, ms (doubles per re-ejection up to 30 s). Default 1000. */
  cooldownMs?: number;
  /** TLS options for scraping and probing HTTPS endpoints (undici connect options). */
  connect?: Record<string, unknown>;
  /** Bearer key presented on the /v1/models probes (`--upstream-api-key`; see endpoint-health.ts). */
  upstreamApiKey?: string;
  /**
   * Take the engines' KV events (exact prefix index): endpoints with a KV-event port in their
   * metadata or `port` are subscribed to, or engines publish to `bind`. See kv-events/kv-event-intake.ts.
   */
  kvEvents?: KvEventIntakeOptions;
}

/**
 * A pool's data, once, for `serve`, `epp` and `up` alike: one endpoint source (static list, watched
 * file, Kubernetes InferencePool) feeding the datastore, `/metrics` scraping, active health and
 * served-model discovery (`/v1/models`). It is also the lifecycle's EndpointFeedback: transport
 * failures count toward passive ejection, and a 404 for a model refreshes that endpoint's list.
 */
export class PoolRuntime implements EndpointFeedback {
  readonly source: EndpointSource;
  private readonly health: EndpointHealth;
  private scraper?: MetricsScraper;
  private readonly logger: Logger;
  /** The KV-event intake (subscriber + exact index), when `kvEvents` was given; its `view` goes to createRouter. */
  readonly kvEvents?: KvEventIntake;

  constructor(private readonly o: PoolOptions) {
    // A bad interval is an error here, before start() has begun watching the source.
    checkScrapeInterval(o.metricsIntervalMs ?? 50);
    this.source = o.source;
    this.logger = o.logger ?? silentLogger();
    if (o.kvEvents) this.kvEvents = new KvEventIntake({ logger: this.logger, ...o.kvEvents });
    this.health = new EndpointHealth(
      o.datastore,
      {
        intervalMs: o.healthIntervalMs ?? 1000,
        ejectOnProbe: o.ejectOnProbe ?? !(o.source instanceof KubernetesEndpointSource),
        ejectAfter: o.ejectAfter ?? 3,
        cooldownMs: o.cooldownMs ?? 1000,
        maxCooldownMs: 30_000,
        connect: o.connect,
        upstreamApiKey: o.upstreamApiKey,
      },
      this.logger,
    );
  }

  /**
   * Starts the source (a static list or file applies at once), scraping and probing, and the
   * KV-event subscriptions as endpoints come and go. Bind the KV-event socket first
   * (`await pool.kvEvents?.start()`) so a port in use is a startup error.
   */
  start(): this {
    this.source.start((list) => {
      this.o.datastore.setEndpoints(list);
      this.kvEvents?.sync(list);
    });
    this.scraper = startMetricsScraper(this.o.datastore, { intervalMs: this.o.metricsIntervalMs ?? 50, connect: this.o.connect });
    this.health.start();
    return this;
  }

  /** The endpoint set is known (readiness): always for lists and files, once listed for Kubernetes. */
  get synced(): boolean {
    return this.source.synced;
  }

  /**
   * Why the pool's data is not (or no longer) what it should be, for /ready's `error`: the source's
   * last error (a missing InferencePool, a 403, a rejected file edit), else an endpoint that refused
   * its /v1/models probe (a model server that wants --upstream-api-key).
   */
  get lastError(): string | undefined {
    return this.source.lastError ?? this.health.problem;
  }

  succeeded(endpointId: string): void {
    this.health.succeeded(endpointId);
  }

  failed(endpointId: string, reason: string): void {
    this.health.failed(endpointId, reason);
  }

  modelMissing(endpointId: string, model: string): void {
    this.logger.info({ endpoint: endpointId, model }, 'endpoint answered 404 for a model it listed; refreshing its models');
    this.health.refreshModels(endpointId);
  }

  async stop(): Promise<void> {
    await this.source.stop();
    await this.kvEvents?.close();
    await this.scraper?.stop();
    await this.health.close();
  }
}

/** Where a pool's endpoints come from, as the CLI flags give it. */
export interface SourceSpec {
  endpoints?: EndpointInfo[];
  endpointsFile?: string;
  kubernetes?: Omit<KubernetesSourceOptions, 'logger'>;
}

/**
 * The one endpoint source a command runs. Exactly one of the three must be given; the error
 * names the flags (`--endpoints`, `--endpoints-file`, `--pool-name`).
 */
export function createEndpointSource(spec: SourceSpec, logger: Logger = silentLogger()): EndpointSource {
  const given = [spec.endpoints !== undefined, spec.endpointsFile !== undefined, spec.kubernetes !== undefined].filter(Boolean).length;
  if (given !== 1) throw new KvgateError(ErrorCode.InvalidConfig, 'give exactly one of --endpoints, --endpoints-file or --pool-name');
  if (spec.kubernetes) return new KubernetesEndpointSource({ ...spec.kubernetes, logger });
  if (spec.endpointsFile !== undefined) return new FileEndpointSource(spec.endpointsFile, logger);
  return new StaticEndpointSource(spec.endpoints!);
}
