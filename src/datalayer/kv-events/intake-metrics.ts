import type { Registry } from 'prom-client';
import { LabeledHistogram, observe, type HistogramSeries } from '../../router/observability/labeled-metrics.js';
import { DECODE_ERROR_KINDS } from './decoder.js';
import type { KvEventIntake } from './kv-event-intake.js';

/** Engine-to-router delay of KV-event batches, seconds (1 ms … 60 s). */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface LagSeries {
  observe(seconds: number): void;
}

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/**
 * A metric whose values are read from the intake at scrape time (counters it keeps anyway, and
 * states), registered with prom-client's Registry as labeled-metrics.ts does, so nothing is
 * updated on the event path but plain integers.
 */
function collected(registry: Registry, name: string, help: string, type: 'counter' | 'gauge', read: () => Sample[]): void {
  registry.registerMetric({
    name,
    help,
    type,
    aggregator: 'sum',
    get: () => ({ name, help, type, aggregator: 'sum', values: read() }),
    reset: () => undefined,
  } as never);
}

/**
 * The KV-event intake's Prometheus metrics (kvgate's names; GIE / llm-d define none for this):
 *
 * - `kvgate_kv_events_received_total` — ZeroMQ messages received from engines (one batch each);
 * - `kvgate_kv_events_batches_total` / `kvgate_kv_events_decoded_total` — batches and events decoded and applied;
 * - `kvgate_kv_events_decode_errors_total{kind}` — malformed input by kind (frame_count, msgpack, …);
 * - `kvgate_kv_events_dropped_total{reason}` — held_overflow (queue bound during a replay), unknown_topic
 *   (the tests' drop hook, `dropLive`, is counted in `stats().dropped.testHook` only, not exposed);
 * - `kvgate_kv_events_sequence_gaps_total`, `kvgate_kv_events_unrecoverable_gaps_total`, `kvgate_kv_events_restarts_total`;
 * - `kvgate_kv_events_replays_total{outcome}` (requested, completed, failed), `kvgate_kv_events_replayed_batches_total`;
 * - `kvgate_kv_events_lag_seconds` — engine timestamp of a batch to its arrival;
 * - `kvgate_kv_events_stream_state{endpoint,state}` — 1 for each endpoint's current stream state;
 * - `kvgate_kv_index_blocks{endpoint}` — blocks the exact index holds per endpoint; `kvgate_kv_index_bytes`;
 * - `kvgate_kv_index_ignored_total{cause}` — events the index could not use (orphan_blocks, unknown_removals, …).
 */
export function registerIntakeMetrics(registry: Registry, intake: KvEventIntake): LagSeries {
  const st = () => intake.stats();
  const one = (value: number): Sample[] => [{ labels: {}, value }];
  collected(registry, 'kvgate_kv_events_received_total', 'ZeroMQ KV-event messages received from engines.', 'counter', () => one(st().messages));
  collected(registry, 'kvgate_kv_events_batches_total', 'KV-event batches decoded and applied to the exact prefix index.', 'counter', () => one(st().batches));
  collected(registry, 'kvgate_kv_events_decoded_total', 'KV events (BlockStored, BlockRemoved, AllBlocksCleared) decoded and applied.', 'counter', () => one(st().events));
  collected(registry, 'kvgate_kv_events_decode_errors_total', 'Malformed KV-event input, by kind.', 'counter', () => {
    const counts = st().decodeErrors.counts;
    return DECODE_ERROR_KINDS.map((kind) => ({ labels: { kind }, value: counts[kind] }));
  });
  collected(registry, 'kvgate_kv_events_dropped_total', 'KV-event batches dropped, by reason.', 'counter', () => {
    const d = st().dropped;
    return [
      { labels: { reason: 'held_overflow' }, value: d.heldOverflow },
      { labels: { reason: 'unknown_topic' }, value: d.unknownTopic },
    ];
  });
  collected(registry, 'kvgate_kv_events_sequence_gaps_total', 'KV-event sequence gaps detected.', 'counter', () => one(st().gaps));
  collected(registry, 'kvgate_kv_events_unrecoverable_gaps_total', 'Sequence gaps no replay could fill (the endpoint went stale).', 'counter', () => one(st().unrecoverableGaps));
  collected(registry, 'kvgate_kv_events_restarts_total', 'KV-event streams that restarted (engine restart): the endpoint was reset.', 'counter', () => one(st().restarts));
  collected(registry, 'kvgate_kv_events_replays_total', 'Replays asked of engines, by outcome.', 'counter', () => {
    const s = st();
    return [
      { labels: { outcome: 'requested' }, value: s.replaysRequested },
      { labels: { outcome: 'completed' }, value: s.replaysCompleted },
      { labels: { outcome: 'failed' }, value: s.replaysFailed },
    ];
  });
  collected(registry, 'kvgate_kv_events_replayed_batches_total', 'Batches received through replays.', 'counter', () => one(st().replayedBatches));
  collected(registry, 'kvgate_kv_events_stream_state', "Each endpoint's KV-event stream state (1 = current).", 'gauge', () =>
    intake.streams().flatMap((s) => (['waiting', 'live', 'replaying', 'stale'] as const).map((state) => ({ labels: { endpoint: s.endpointId, state }, value: s.state === state ? 1 : 0 }))),
  );
  collected(registry, 'kvgate_kv_index_blocks', 'Blocks the exact prefix index holds per endpoint (any medium).', 'gauge', () => intake.streams().map((s) => ({ labels: { endpoint: s.endpointId }, value: s.blocks })));
  collected(registry, 'kvgate_kv_index_bytes', 'Memory of the exact prefix index (typed arrays), bytes.', 'gauge', () => one(intake.index.memoryStats().bytes));
  collected(registry, 'kvgate_kv_index_ignored_total', 'KV events the exact index could not use, by cause.', 'counter', () => {
    const c = intake.index.counters;
    return [
      { labels: { cause: 'orphan_blocks' }, value: c.orphanBlocks },
      { labels: { cause: 'unknown_removals' }, value: c.unknownRemovals },
      { labels: { cause: 'unknown_tier_stores' }, value: c.unknownTierStores },
      { labels: { cause: 'other_group_events' }, value: c.otherGroupEvents },
      { labels: { cause: 'no_slot' }, value: c.noSlot },
    ];
  });
  const lag: HistogramSeries = new LabeledHistogram('kvgate_kv_events_lag_seconds', 'Time from a KV-event batch at the engine (its timestamp) to its arrival here, seconds.', [], LAG_BUCKETS, registry).series();
  return { observe: (s) => observe(lag, s) };
}
