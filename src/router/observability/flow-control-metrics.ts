import { Counter, Gauge, type Registry } from 'prom-client';
import { LabeledHistogram, observe, type HistogramSeries, type SeriesLimit } from './labeled-metrics.js';
import type { Datastore } from '../api.js';
import type { FlowControl, QueueOutcome } from '../flowcontrol/index.js';

// The EPP's latency buckets (5 ms … 3600 s), with 0 first: most requests never wait.
const QUEUE_BUCKETS = [0, 0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600];
/** Priorities remembered for zero-valued queue series (distinct priorities come from objectives: few). */
const MAX_PRIORITIES = 64;

/**
 * Flow control's series, by GIE's names (label `inference_pool`, `priority`, `outcome`; not
 * `fairness_id`, which would put API keys and client ids into labels):
 * `inference_extension_flow_control_request_queue_duration_seconds` (every request, 0 when it
 * went straight through), `…_queue_size`, `…_queue_bytes` per priority band,
 * `…_pool_saturation` (GIE's graded saturation over the healthy endpoints), and kvgate's
 * `kvgate_flow_control_queue_oldest_age_seconds` (age of each band's oldest waiting request),
 * `kvgate_flow_control_evictions_total` (sheddable requests evicted for higher priorities) and
 * `kvgate_endpoint_concurrency_limit` (each endpoint's cap, max_num_seqs × factor).
 */
export function registerFlowControlMetrics(registry: Registry, flow: FlowControl, datastore: Datastore, now: () => number, pool: string, limit?: SeriesLimit): void {
  const duration = new LabeledHistogram('inference_extension_flow_control_request_queue_duration_seconds', 'Time a request spent in the flow control queue, by outcome.', ['inference_pool', 'priority', 'outcome'], QUEUE_BUCKETS, registry, limit);
  const series = new Map<string, HistogramSeries>();
  flow.observe({
    requestLeft(priority: number, outcome: QueueOutcome, waitedMs: number) {
      const key = `${priority}\u0000${outcome}`;
      let s = series.get(key);
      if (!s) {
        s = duration.series(pool, String(priority), outcome);
        // Priorities can come from trusted clients: keep no entry for a label set the metric folded.
        if (!s.overflow) series.set(key, s);
      }
      observe(s, waitedMs / 1000);
    },
  });
  const seen = new Set<number>([0]);
  const perBand = (name: string, help: string, value: (b: { requests: number; bytes: number; oldestAgeMs: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['inference_pool', 'priority'],
      registers: [registry],
      collect() {
        this.reset();
        const bands = flow.queue.stats();
        for (const b of bands) if (seen.size < MAX_PRIORITIES) seen.add(b.priority);
        for (const p of seen) this.set({ inference_pool: pool, priority: String(p) }, 0);
        for (const b of bands) this.set({ inference_pool: pool, priority: String(b.priority) }, value(b));
      },
    });
  perBand('inference_extension_flow_control_queue_size', 'Number of requests waiting in the flow control queue.', (b) => b.requests);
  perBand('inference_extension_flow_control_queue_bytes', 'Bytes of the requests waiting in the flow control queue.', (b) => b.bytes);
  perBand('kvgate_flow_control_queue_oldest_age_seconds', 'Age of the oldest request waiting in each priority band, seconds.', (b) => b.oldestAgeMs / 1000);
  new Gauge({
    name: 'inference_extension_flow_control_pool_saturation',
    help: 'Pool saturation: mean over the healthy endpoints of max(waiting/queue threshold, kv/kv threshold, in-flight/cap); >= 1 is saturated.',
    labelNames: ['inference_pool'],
    registers: [registry],
    collect() {
      this.set({ inference_pool: pool }, flow.gate.assess(datastore.list().filter((e) => e.healthy), now()).saturation);
    },
  });
  new Counter({
    name: 'kvgate_flow_control_evictions_total',
    help: 'Sheddable requests ended at a replica (429 evicted-priority) to free a batch slot for a request of higher priority.',
    labelNames: ['inference_pool'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ inference_pool: pool }, flow.evictor?.evicted ?? 0);
    },
  });
  new Gauge({
    name: 'kvgate_endpoint_concurrency_limit',
    help: "Most requests the gateway sends to an endpoint at once: its max_num_seqs (reported, else --max-num-seqs or the running peak seen) x --max-num-seqs-factor.",
    labelNames: ['endpoint'],
    registers: [registry],
    collect() {
      this.reset();
      for (const e of datastore.list()) this.set({ endpoint: e.info.id }, flow.gate.cap(e));
    },
  });
}
