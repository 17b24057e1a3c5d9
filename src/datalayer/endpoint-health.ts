import { Agent, request } from 'undici';
import type { Datastore } from '../router/api.js';
import type { Logger } from '../shared/logger.js';

export interface HealthOptions {
  /** Active /health probe period. */
  intervalMs: number;
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
  models: string[];
}

/**
 * Passive ejection (consecutive request failures → cool-down) plus active /health and
 * /v1/models probes. An ejected endpoint comes back after its cool-down once a probe succeeds.
 */
export class EndpointHealth {
  private readonly state = new Map<string, State>();
  private readonly agent: Agent;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly datastore: Datastore,
    private readonly opts: HealthOptions,
    private readonly logger: Logger,
  ) {
    this.agent = new Agent({ connections: 2, keepAliveTimeout: 10_000, connect: opts.connect });
  }

  start(): void {
    const tick = async () => {
      await Promise.all(this.datastore.list().map((e) => this.probe(e.info.id)));
      this.timer = setTimeout(tick, this.opts.intervalMs);
      this.timer.unref();
    };
    void tick();
  }

  /** Models served by healthy endpoints (empty until the first probe answered). */
  models(): Set<string> {
    const out = new Set<string>();
    for (const e of this.datastore.list()) if (e.healthy) for (const m of this.st(e.info.id).models) out.add(m);
    return out;
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
    if (!s) this.state.set(id, (s = { failures: 0, ejectedUntil: 0, cooldown: 0, models: [] }));
    return s;
  }

  private async probe(id: string): Promise<void> {
    const e = this.datastore.get(id);
    if (!e) return;
    const s = this.st(id);
    try {
      const h = await request(`${e.info.url}/health`, { dispatcher: this.agent, headersTimeout: 2000, bodyTimeout: 2000 });
      await h.body.dump();
      if (h.statusCode !== 200) throw new Error(`health status ${h.statusCode}`);
      const m = await request(`${e.info.url}/v1/models`, { dispatcher: this.agent, headersTimeout: 2000, bodyTimeout: 2000 });
      if (m.statusCode === 200) {
        const j = (await m.body.json()) as { data?: { id?: unknown }[] };
        s.models = (j.data ?? []).map((d) => d.id).filter((x): x is string => typeof x === 'string');
      } else await m.body.dump();
      if (!e.healthy && Date.now() >= s.ejectedUntil) {
        s.failures = 0;
        this.datastore.setHealthy(id, true);
        this.logger.info({ endpoint: id }, 'endpoint readmitted');
      } else if (e.healthy) s.cooldown = 0;
    } catch (err) {
      if (e.healthy) this.eject(id, `health probe failed: ${(err as Error).message}`);
      else s.ejectedUntil = Math.max(s.ejectedUntil, Date.now() + Math.min(s.cooldown, this.opts.intervalMs));
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.agent.close();
  }
}
