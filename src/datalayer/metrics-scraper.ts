import { Agent, request } from 'undici';
import type { Datastore } from '../router/api.js';
import { parseEndpointMetrics } from './metrics-parser.js';

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

/**
 * Keeps every endpoint's metrics fresh: one loop per endpoint, never two scrapes of one endpoint
 * at once, and a slow or failing endpoint never delays the others. The loop set follows the
 * datastore as endpoints come and go.
 */
export function startMetricsScraper(datastore: Datastore, opts: ScraperOptions = {}): MetricsScraper {
  const interval = opts.intervalMs ?? 50;
  const timeout = opts.timeoutMs ?? 1000;
  const path = opts.path ?? '/metrics';
  const now = opts.now ?? (() => performance.now());
  const agent = new Agent({ keepAliveTimeout: 10_000, connections: 2, connect: opts.connect });
  const loops = new Map<string, NodeJS.Timeout | null>();
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

  function schedule(id: string, delay: number): void {
    if (stopped) return;
    loops.set(
      id,
      setTimeout(async () => {
        loops.set(id, null);
        if (!datastore.get(id)) {
          loops.delete(id);
          return;
        }
        await scrapeOnce(id);
        schedule(id, interval);
      }, delay),
    );
  }

  // Follow the endpoint set.
  const sync = () => {
    for (const e of datastore.list()) if (!loops.has(e.info.id)) schedule(e.info.id, 0);
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
      await agent.close();
    },
  };
}
