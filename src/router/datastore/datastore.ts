import type { Datastore, DatastoreListener, EndpointInfo, EndpointMetrics, EndpointState, ServedModel } from '../api.js';

interface InFlight {
  endpointId: string;
  /** Uncached prompt tokens still counted against the endpoint (released at first token). */
  tokens: number;
  /** Priority < 0: counted in the endpoint's inFlightSheddable. */
  sheddable: boolean;
  /** Its first token came (it left the engine's waiting queue). */
  started: boolean;
  /** The endpoint's scrape count at dispatch: tokens still count as "since scrape" while it holds. */
  scrape: number;
}

/**
 * Endpoints with their health, latest metrics and this router's in-flight bookkeeping.
 * In-flight requests count until completion; their uncached prompt tokens until the first token.
 */
export class MemoryDatastore implements Datastore {
  private readonly endpoints = new Map<string, EndpointState>();
  private readonly inflight = new Map<string, InFlight>();
  private readonly scrapes = new Map<string, number>();
  private readonly listeners = new Set<DatastoreListener>();

  subscribe(listener: DatastoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setEndpoints(list: EndpointInfo[]): void {
    const keep = new Set(list.map((e) => e.id));
    for (const id of [...this.endpoints.keys()]) if (!keep.has(id)) this.removeEndpoint(id);
    for (const e of list) this.upsertEndpoint(e);
  }

  upsertEndpoint(info: EndpointInfo): void {
    const cur = this.endpoints.get(info.id);
    if (cur) cur.info = info;
    else this.endpoints.set(info.id, { info, healthy: true, inFlightRequests: 0, inFlightSheddable: 0, inFlightTokens: 0, dispatchedTokensSinceScrape: 0, dispatchedSinceScrape: 0 });
  }

  removeEndpoint(id: string): void {
    this.scrapes.delete(id);
    const last = this.endpoints.get(id);
    if (last && this.endpoints.delete(id)) for (const l of this.listeners) l.endpointRemoved?.(id, last);
  }

  list(): EndpointState[] {
    return [...this.endpoints.values()];
  }

  get(id: string): EndpointState | undefined {
    return this.endpoints.get(id);
  }

  updateMetrics(id: string, metrics: EndpointMetrics): void {
    const e = this.endpoints.get(id);
    if (!e) return;
    e.metrics = metrics;
    e.dispatchedTokensSinceScrape = 0;
    e.dispatchedSinceScrape = 0;
    this.scrapes.set(id, (this.scrapes.get(id) ?? 0) + 1);
    for (const l of this.listeners) l.metricsUpdated?.(id, metrics);
  }

  setModels(id: string, models: ServedModel[]): void {
    const e = this.endpoints.get(id);
    if (e) e.models = models;
  }

  setHealthy(id: string, healthy: boolean): void {
    const e = this.endpoints.get(id);
    if (!e || e.healthy === healthy) return;
    e.healthy = healthy;
    for (const l of this.listeners) l.healthChanged?.(id, healthy);
  }

  /**
   * Starts bookkeeping of a request dispatched to `endpointId` with `tokens` uncached prompt
   * tokens; `sheddable` (priority < 0) requests are also counted apart.
   */
  dispatch(requestId: string, endpointId: string, tokens: number, sheddable = false): void {
    this.release(requestId);
    const e = this.endpoints.get(endpointId);
    if (!e) return;
    e.inFlightRequests++;
    if (sheddable) e.inFlightSheddable++;
    e.inFlightTokens += tokens;
    e.dispatchedTokensSinceScrape += tokens;
    e.dispatchedSinceScrape++;
    this.inflight.set(requestId, { endpointId, tokens, sheddable, started: false, scrape: this.scrapes.get(endpointId) ?? 0 });
  }

  /** Moves a request to another endpoint (failover). */
  move(requestId: string, endpointId: string): void {
    const f = this.inflight.get(requestId);
    if (f && f.endpointId !== endpointId) this.dispatch(requestId, endpointId, f.tokens, f.sheddable);
  }

  firstToken(requestId: string): void {
    const f = this.inflight.get(requestId);
    if (!f || f.started) return;
    const e = this.endpoints.get(f.endpointId);
    if (e) this.releaseTokens(e, f);
    f.tokens = 0;
    f.started = true;
  }

  /**
   * A request's prompt stops weighing on its endpoint once prefilled. Its share of the
   * dispatched-since-scrape count goes too (unless a scrape already reset that count): a request
   * that finished between two scrapes is not work ahead of the next one.
   */
  private releaseTokens(e: EndpointState, f: InFlight): void {
    e.inFlightTokens = Math.max(0, e.inFlightTokens - f.tokens);
    if ((this.scrapes.get(f.endpointId) ?? 0) === f.scrape) {
      e.dispatchedTokensSinceScrape = Math.max(0, e.dispatchedTokensSinceScrape - f.tokens);
      if (!f.started) e.dispatchedSinceScrape = Math.max(0, e.dispatchedSinceScrape - 1);
    }
  }

  /** Ends a request's bookkeeping; idempotent. Returns the endpoint it was on. */
  release(requestId: string): string | undefined {
    const f = this.inflight.get(requestId);
    if (!f) return undefined;
    this.inflight.delete(requestId);
    const e = this.endpoints.get(f.endpointId);
    if (e) {
      e.inFlightRequests = Math.max(0, e.inFlightRequests - 1);
      if (f.sheddable) e.inFlightSheddable = Math.max(0, e.inFlightSheddable - 1);
      this.releaseTokens(e, f);
    }
    return f.endpointId;
  }

  endpointOf(requestId: string): string | undefined {
    return this.inflight.get(requestId)?.endpointId;
  }

  get inFlightCount(): number {
    return this.inflight.size;
  }
}
