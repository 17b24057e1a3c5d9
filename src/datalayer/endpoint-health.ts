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
      maxModelLen: typeof raw.max_model_len === 'number' ? raw.max_model_len : undefined,
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
  private readonly agent: Agent;
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
    const s = this.st(id);
    s.failures = 0;
  }

  failed(id: string, reason: string): void {
    const s = this.st(id);
    s.failures++;
    if (s.failures >= this.opts.ejectAfter && Date.now() >= s.ejectedUntil) this.eject(id, reason);
  }

  private eject(id: string, reason: string): void {
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
    const m = await request(`${e.info.url}/v1/models`, { dispatcher: this.agent, headersTimeout: 2000, bodyTimeout: 2000 });
    if (m.statusCode !== 200) {
      await m.body.dump();
      return;
    }
    let body: unknown;
    try {
      body = await m.body.json();
    } catch {
      return; // not JSON: keep what we knew
    }
    this.datastore.setModels(id, parseModelList(body));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.agent.close();
  }
}
