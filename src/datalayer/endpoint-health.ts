import { Agent, request } from 'undici';
import type { Datastore, ServedModel } from '../router/api.js';
import type { Logger } from '../shared/logger.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';

export interface HealthOptions {
  /** Active /health and /v1/models probe period; 0 = no active probes (passive ejection only). */
  intervalMs: number;
  /**
   * Eject endpoints whose /health probe fails (default true). Off for Kubernetes pools, where pod
   * readiness already decides; /v1/models is still probed for the served models.
   */
  ejectOnProbe?: boolean;
  /** Consecutive failures that eject an endpoint. */
  ejectAfter: number;
  /** First ejection cool-down; doubles on each re-ejection up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
  connect?: Record<string, unknown>;
  /**
   * The key presented on /v1/models probes as `Authorization: Bearer <key>` (`--upstream-api-key`):
   * model servers started with vLLM's --api-key refuse /v1/models without it. /health is never
   * guarded (vLLM's AuthenticationMiddleware guards /v1, /v2, /inference, /cohere only).
   */
  upstreamApiKey?: string;
}

interface State {
  failures: number;
  ejectedUntil: number;
  cooldown: number;
}

/** vLLM's /v1/models entries as served models (ids must be strings; other fields kept raw). */
export function parseModelList(body: unknown): ServedModel[] {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return [];
  const out: ServedModel[] = [];
  for (const d of data) {
    if (!d || typeof d !== 'object') continue;
    const raw = d as Record<string, unknown>;
    if (typeof raw.id !== 'string' || raw.id.length === 0) continue;
    out.push({
      id: raw.id,
      root: typeof raw.root === 'string' ? raw.root : undefined,
      parent: typeof raw.parent === 'string' ? raw.parent : raw.parent === null ? null : undefined,
      // The router keeps requests off replicas they do not fit (context-fit.ts): a window that is
      // not a positive integer is no window, not one that fits nothing.
      maxModelLen: Number.isSafeInteger(raw.max_model_len) && (raw.max_model_len as number) > 0 ? (raw.max_model_len as number) : undefined,
      raw,
    });
  }
  return out;
}

/**
 * Passive ejection (consecutive request failures → cool-down) plus active /health and
 * /v1/models probes; the served models go to the datastore. An ejected endpoint comes back
 * after its cool-down once a probe succeeds.
 */
export class EndpointHealth {
  private readonly state = new Map<string, State>();
  /** Endpoint id → why its /v1/models probe was refused (401/403), until a probe is answered 200. */
  private readonly refused = new Map<string, string>();
  private readonly modelsHeaders: Record<string, string>;
  private readonly agent: Agent;
  private readonly unsubscribe: () => void;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly datastore: Datastore,
    private readonly opts: HealthOptions,
    private readonly logger: Logger,
  ) {
    // Checked here, before anything starts: NaN, a negative or a sub-millisecond period would
    // re-probe every endpoint each millisecond (setTimeout's floor), and one above 2^31-1 ms
    // fires after 1 ms.
    if (opts.intervalMs !== 0 && !(opts.intervalMs >= 1 && opts.intervalMs <= 2 ** 31 - 1)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `health probe interval must be 0 (off) or from 1 ms to ${2 ** 31 - 1} ms (got ${opts.intervalMs})`, { param: 'healthIntervalMs' });
    }
    this.agent = new Agent({ connections: 2, keepAliveTimeout: 10_000, connect: opts.connect });
    this.modelsHeaders = opts.upstreamApiKey ? { authorization: `Bearer ${opts.upstreamApiKey}` } : {};
    // A removed endpoint's records go with it: kept, they would grow with churn, and an endpoint
    // coming back at the same address would inherit its failure count and its refusal (and so
    // not be warned about again).
    this.unsubscribe = datastore.subscribe({
      endpointRemoved: (id) => {
        this.state.delete(id);
        this.refused.delete(id);
      },
    });
  }

  /**
   * Why served models cannot be learned, when a current endpoint refused its /v1/models probe
   * (401/403: the model server wants a key kvgate lacks, or another); undefined otherwise.
   */
  get problem(): string | undefined {
    const ids = [...this.refused.keys()].filter((id) => this.datastore.get(id));
    if (ids.length === 0) return undefined;
    const first = this.refused.get(ids[0])!;
    return ids.length === 1 ? first : `${first} (and ${ids.length - 1} more endpoint${ids.length > 2 ? 's' : ''})`;
  }

  start(): void {
    if (this.opts.intervalMs === 0) return;
    const tick = async () => {
      await Promise.all(this.datastore.list().map((e) => this.probe(e.info.id)));
      if (this.closed) return;
      this.timer = setTimeout(tick, this.opts.intervalMs);
      this.timer.unref();
    };
    void tick();
  }

  /** Probes one endpoint's /v1/models now (its list turned out stale). */
  refreshModels(id: string): void {
    void this.probeModels(id).catch(() => undefined);
  }

  succeeded(id: string): void {
    // No record is the same as no failures; none is created, so a request that ends after its
    // endpoint was removed leaves nothing behind.
    const s = this.state.get(id);
    if (s) s.failures = 0;
  }

  failed(id: string, reason: string): void {
    if (!this.datastore.get(id)) return; // removed while the request was in flight
    const s = this.st(id);
    s.failures++;
    if (s.failures >= this.opts.ejectAfter && Date.now() >= s.ejectedUntil) this.eject(id, reason);
  }

  private eject(id: string, reason: string): void {
    if (!this.datastore.get(id)) return; // removed while its probe was in flight
    const s = this.st(id);
    s.cooldown = s.cooldown ? Math.min(this.opts.maxCooldownMs, s.cooldown * 2) : this.opts.cooldownMs;
    s.ejectedUntil = Date.now() + s.cooldown;
    if (this.datastore.get(id)?.healthy) this.logger.warn({ endpoint: id, reason, cooldownMs: s.cooldown }, 'endpoint ejected');
    this.datastore.setHealthy(id, false);
  }

  private st(id: string): State {
    let s = this.state.get(id);
    if (!s) this.state.set(id, (s = { failures: 0, ejectedUntil: 0, cooldown: 0 }));
    return s;
  }

  private async probe(id: string): Promise<void> {
    const e = this.datastore.get(id);
    if (!e) return;
    const s = this.st(id);
    if (this.opts.ejectOnProbe === false) {
      await this.probeModels(id).catch(() => undefined);
      return;
    }
    try {
      const h = await request(`${e.info.url}/health`, { dispatcher: this.agent, headersTimeout: 2000, bodyTimeout: 2000 });
      await h.body.dump();
      if (h.statusCode !== 200) throw new Error(`health status ${h.statusCode}`);
      await this.probeModels(id);
      if (!e.healthy && Date.now() >= s.ejectedUntil) {
        s.failures = 0;
        this.datastore.setHealthy(id, true);
        this.logger.info({ endpoint: id }, 'endpoint readmitted');
      } else if (e.healthy) s.cooldown = 0;
    } catch (err) {
      if (this.closed) return;
      if (e.healthy) this.eject(id, `health probe failed: ${(err as Error).message}`);
      else s.ejectedUntil = Math.max(s.ejectedUntil, Date.now() + Math.min(s.cooldown, this.opts.intervalMs));
    }
  }

  private async probeModels(id: string): Promise<void> {
    const e = this.datastore.get(id);
    if (!e) return;
    const m = await request(`${e.info.url}/v1/models`, { dispatcher: this.agent, headers: this.modelsHeaders, headersTimeout: 2000, bodyTimeout: 2000 });
    if (m.statusCode !== 200) {
      await m.body.dump();
      if (m.statusCode === 401 || m.statusCode === 403) this.modelsRefused(id, m.statusCode);
      return;
    }
    this.refused.delete(id);
    let body: unknown;
    try {
      body = await m.body.json();
    } catch {
      return; // not JSON: keep what we knew
    }
    this.datastore.setModels(id, parseModelList(body));
  }

  /**
   * A /v1/models probe answered 401/403: warned once per endpoint (until a probe succeeds again),
   * naming the endpoint and the setting that fixes it; the key itself is never logged.
   */
  private modelsRefused(id: string, status: number): void {
    // Removed while the probe was in flight: nothing to warn about, and no record to leave behind.
    if (this.refused.has(id) || !this.datastore.get(id)) return;
    const why = this.opts.upstreamApiKey
      ? `endpoint ${id} refused the key of --upstream-api-key / KVGATE_UPSTREAM_API_KEY on GET /v1/models (${status}): give the key the model server was started with (vLLM --api-key)`
      : `endpoint ${id} answered ${status} to GET /v1/models: the model server requires an API key (vLLM --api-key); set --upstream-api-key or KVGATE_UPSTREAM_API_KEY`;
    this.refused.set(id, why);
    this.logger.warn({ endpoint: id, status }, `${why}; its served models stay unknown until then`);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    clearTimeout(this.timer);
    await this.agent.close();
  }
}
