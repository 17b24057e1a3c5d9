import { EventEmitter } from 'node:events';
import { Pool } from 'undici';
import type { EndpointInfo } from '../router/api.js';
import { SlotSet } from '../shared/slot-set.js';

/**
 * Why an upstream attempt was aborted: the client left, the request's deadline passed, the
 * endpoint was ejected, no response headers came within --upstream-first-byte-timeout, or the
 * response body paused longer than --upstream-idle-timeout, or flow control evicted the
 * (sheddable) request for one of higher priority.
 */
export type AbortReason = 'client' | 'deadline' | 'ejected' | 'first-byte-timeout' | 'idle-timeout' | 'evicted';

/**
 * The abort signal of one upstream attempt, handed to undici. An EventEmitter rather than an
 * AbortController because undici accepts either, and an AbortController's signal with its
 * EventTarget listeners cost ~6 % of the gateway's CPU per request (bench:gateway profile).
 */
export class AttemptSignal extends EventEmitter {
  aborted = false;
  reason?: AbortReason;
  /** Its position among its endpoint's pending attempts (UpstreamPools). */
  slot = -1;

  abort(reason: AbortReason): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }
}

export interface UpstreamPoolOptions {
  /** undici connect options (TLS) plus the connect timeout. */
  connect?: Record<string, unknown>;
  connectTimeoutMs: number;
  /** Idle upstream connections close after this, ms (below vLLM's uvicorn keep-alive of 5 s). */
  keepAliveMs: number;
}

interface Entry {
  pool: Pool;
  connections: number;
}

/**
 * One undici Pool per endpoint, sized from the endpoint's concurrency cap (max_num_seqs × factor,
 * from flow control) rather than a constant: the next power of two at or above the cap, so the
 * gateway queue, not undici's internal one, is where requests wait, and a cap that grows replaces
 * the pool only a few times (the old pool finishes its requests, then closes).
 *
 * It also knows each endpoint's attempts that have not started a response yet, so an endpoint
 * that health checks eject can have them failed over at once (Envoy's outlier detection does the
 * same for in-flight work).
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Entry>();
  private readonly pending = new Map<string, SlotSet<AttemptSignal>>();

  constructor(private readonly o: UpstreamPoolOptions) {}

  /** The pool for `ep`, with at least `cap` connections. */
  get(ep: EndpointInfo, cap: number): Pool {
    const e = this.pools.get(ep.id);
    if (e && e.connections >= cap) return e.pool;
    let connections = 16;
    while (connections < cap) connections *= 2;
    if (e) void e.pool.close().catch(() => undefined);
    const pool = new Pool(ep.url, {
      connections,
      pipelining: 1,
      keepAliveTimeout: this.o.keepAliveMs,
      connectTimeout: this.o.connectTimeoutMs,
      // Per-request headersTimeout and bodyTimeout are always given (see the gateway); these are off.
      headersTimeout: 0,
      bodyTimeout: 0,
      connect: this.o.connect,
    });
    this.pools.set(ep.id, { pool, connections });
    return pool;
  }

  /** An attempt to `endpointId` is waiting for its response to start. */
  attemptStarted(endpointId: string, s: AttemptSignal): void {
    let set = this.pending.get(endpointId);
    if (!set) this.pending.set(endpointId, (set = new SlotSet()));
    set.add(s);
  }

  /** The attempt's response started (or it ended). */
  attemptSettled(endpointId: string, s: AttemptSignal): void {
    const set = this.pending.get(endpointId);
    set?.delete(s);
  }

  /** The endpoint was ejected: abort its attempts that have no response yet (they fail over). */
  ejected(endpointId: string): number {
    const set = this.pending.get(endpointId);
    if (!set) return 0;
    const all: AttemptSignal[] = [];
    set.forEach((s) => all.push(s));
    set.clear();
    for (const s of all) s.abort('ejected');
    return all.length;
  }

  remove(endpointId: string): void {
    const e = this.pools.get(endpointId);
    this.pools.delete(endpointId);
    this.pending.delete(endpointId);
    void e?.pool.close().catch(() => undefined);
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.pools.values()].map((e) => e.pool.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}
