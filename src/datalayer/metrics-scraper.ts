import { Agent, request } from 'undici';
import type { Datastore } from '../router/api.js';
import { parseEndpointMetrics } from './metrics-parser.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';

export interface ScraperOptions {
  /** Scrape period per endpoint (EPP default 50 ms). */
  intervalMs?: number;
  /** Per-scrape timeout. */
  timeoutMs?: number;
  path?: string;
  /** undici dispatcher options for upstream TLS (CA, client certs). */
  connect?: Record<string, unknown>;
  now?: () => number;
}

export interface MetricsScraper {
  stop(): Promise<void>;
  /** Completed scrapes and failures so far (for tests and metrics). */
  readonly counts: { ok: number; failed: number };
}

/** Node's longest timer delay (2^31-1 ms): a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Golden-ratio fraction: the k-th endpoint's phase is frac(k·φ) of the interval (see below). */
const PHI_FRACTION = (Math.sqrt(5) - 1) / 2;

/**
 * Scrape phase (ms in [0, intervalMs)) of the k-th endpoint a scraper has seen: frac(k·φ) of the
 * interval. By the three-gap theorem any n consecutive k cut the interval into gaps of at most
 * three sizes, the largest under 2.7 times the smallest, so endpoints stay evenly apart as they
 * come and go.
 */
export function scrapePhase(k: number, intervalMs: number): number {
  return ((k * PHI_FRACTION) % 1) * intervalMs;
}

/**
 * The grid slot (i of `phaseMs + i·intervalMs`) for an endpoint's next scrape, when its scrape for
 * slot `lastSlot` ended at `nowMs`: the next slot, or the first one still ahead when the scrape
 * overran. Counting slots (rather than taking "the next grid point after now") scrapes each slot
 * once even when a timer fires a little before its point and the scrape ends before it.
 */
export function nextScrapeSlot(phaseMs: number, intervalMs: number, lastSlot: number, nowMs: number): number {
  return Math.max(lastSlot + 1, Math.ceil((nowMs - phaseMs) / intervalMs));
}

/**
 * The scrape interval, or a KvgateError when no scrape loop can run on it: 0, NaN or Infinity
 * makes the grid arithmetic NaN and setTimeout(NaN) fires every millisecond (every endpoint
 * scraped in a busy loop); Node cannot wait less than 1 ms, and a delay above 2^31-1 ms fires
 * after 1 ms.
 */
export function checkScrapeInterval(intervalMs: number): number {
  if (!(intervalMs >= 1 && intervalMs <= MAX_TIMER_MS)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `metrics scrape interval must be from 1 ms to ${MAX_TIMER_MS} ms (got ${intervalMs})`, { param: 'metricsIntervalMs' });
  }
  return intervalMs;
}

/**
 * Keeps every endpoint's metrics fresh: one loop per endpoint, never two scrapes of one endpoint
 * at once, and a slow or failing endpoint never delays the others. The loop set follows the
 * datastore as endpoints come and go.
 *
 * A new endpoint is scraped at once; after that each endpoint is scraped on its own grid of
 * period `intervalMs`, once per grid point (a scrape that overruns waits for the next grid point
 * after it ends; the grid point nearest the first scrape counts as done). The
 * grids' phases are spread over the interval — the k-th endpoint seen starts at frac(k·φ) of it,
 * which keeps any number of endpoints evenly apart — so the scrapes' requests and parsing come
 * one endpoint at a time instead of all endpoints in one event-loop turn, which would stall
 * every request being routed at that moment.
 */
export function startMetricsScraper(datastore: Datastore, opts: ScraperOptions = {}): MetricsScraper {
  const interval = checkScrapeInterval(opts.intervalMs ?? 50);
  const timeout = opts.timeoutMs ?? 1000;
  const path = opts.path ?? '/metrics';
  const now = opts.now ?? (() => performance.now());
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 2, connect: opts.connect });
  const loops = new Map<string, NodeJS.Timeout | null>();
  /** Each looping endpoint's grid: phase (whole ms in [0, interval)) and the slot last scraped. */
  const grids = new Map<string, { phase: number; slot: number }>();
  let seen = 0;
  const counts = { ok: 0, failed: 0 };
  let stopped = false;

  async function scrapeOnce(id: string): Promise<void> {
    const st = datastore.get(id);
    if (!st) return;
    try {
      const res = await request(`${st.info.url}${path}`, { dispatcher: agent, headersTimeout: timeout, bodyTimeout: timeout });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      datastore.updateMetrics(id, parseEndpointMetrics(text, st.info.metricsDialect ?? 'vllm', now()));
      counts.ok++;
    } catch {
      counts.failed++; // metrics go stale; scorers treat stale as unknown
    }
  }

  /** Whole ms until the endpoint's next slot (monotonic clock: the `now` option may be virtual). */
  function untilNextSlot(id: string): number {
    const g = grids.get(id)!;
    const t = performance.now();
    g.slot = nextScrapeSlot(g.phase, interval, g.slot, t);
    // Whole milliseconds: Node keeps one timer list per distinct delay.
    return Math.max(0, Math.round(g.phase + g.slot * interval - t));
  }

  function schedule(id: string, delay: number): void {
    if (stopped) return;
    loops.set(
      id,
      setTimeout(async () => {
        loops.set(id, null);
        if (!datastore.get(id)) {
          loops.delete(id);
          grids.delete(id);
          return;
        }
        await scrapeOnce(id);
        if (!stopped) schedule(id, untilNextSlot(id));
      }, delay),
    );
  }

  // Follow the endpoint set.
  const sync = () => {
    for (const e of datastore.list()) {
      if (loops.has(e.info.id)) continue;
      const phase = Math.round(scrapePhase(seen++, interval)) % interval;
      grids.set(e.info.id, { phase, slot: Math.round((performance.now() - phase) / interval) });
      schedule(e.info.id, 0);
    }
  };
  sync();
  const syncTimer = setInterval(sync, Math.max(interval, 100));
  syncTimer.unref();

  return {
    counts,
    async stop() {
      stopped = true;
      clearInterval(syncTimer);
      for (const t of loops.values()) if (t) clearTimeout(t);
      loops.clear();
      grids.clear();
      await agent.close();
    },
  };
}
