import type { KvEvent, KvEventBatch as EngineBatch } from '../engine/types.js';
import type { KvCacheEvent, KvEventBatch } from '../datalayer/kv-events/events.js';
import { KvEventIntake } from '../datalayer/kv-events/kv-event-intake.js';
import { createRouter, ExactPrefixIndex, type EffectiveConfig, type KvEventsView } from '../router/index.js';
import type { EventLoop } from './event-loop.js';
import type { ModelledReplica } from './fleet.js';

/**
 * The engines' KV events as the router gets them, in virtual time. Each modelled engine publishes
 * one batch per step, as vLLM's scheduler does at the end of a step (`SimEngine.onKvEvents`, the
 * stream `kvgate sim` publishes over ZeroMQ), numbered 0, 1, 2… per engine. Each batch reaches
 * the router `latencyMs` after the step ended and goes into the real intake
 * (`datalayer/kv-events/kv-event-intake.ts`, one local stream per replica): the subscriber's
 * sequencing and stream state, the index sink, the exact prefix index — the objects whose view a
 * gateway's router reads. Batches of one engine keep their order (equal delays fire in insertion
 * order).
 *
 * What is skipped is the wire: msgpack encoding by the publisher and decoding by the subscriber
 * (2–3 µs an event, a quarter of a replay's time). `decodedBatch` gives the batch exactly the
 * shape the decoder gives the same bytes (a test compares the two).
 */
export class SimulatedKvEvents {
  readonly intake = new KvEventIntake();

  constructor(loop: EventLoop, replicas: ModelledReplica[], latencyMs: number) {
    for (const r of replicas) {
      const id = r.info.id;
      this.intake.addLocalStream(r.info);
      let seq = 0n;
      r.engine.onKvEvents((b) => {
        const batch = decodedBatch(b);
        const s = seq++;
        loop.setTimer(() => this.intake.deliver(id, s, batch), latencyMs);
      });
    }
  }

  get view(): KvEventsView {
    return this.intake.view;
  }
}

/** An engine event as kvgate's decoder reads vLLM's bytes for it: fields vLLM did not send are null. */
function decodedEvent(e: KvEvent): KvCacheEvent {
  switch (e.type) {
    case 'BlockStored':
      return {
        type: 'BlockStored',
        blockHashes: e.blockHashes,
        parentBlockHash: e.parentBlockHash,
        tokenIds: e.tokenIds,
        blockSize: e.blockSize,
        loraId: e.loraId,
        loraName: e.loraName,
        medium: e.medium,
        extraKeys: null,
        groupIdx: null,
        kvCacheSpecKind: null,
        kvCacheSpecSlidingWindow: null,
      };
    case 'BlockRemoved':
      return { type: 'BlockRemoved', blockHashes: e.blockHashes, medium: e.medium, groupIdx: null };
    default:
      return { type: 'AllBlocksCleared' };
  }
}

/** One engine step's batch as the subscriber gets it from `kvgate sim`'s bytes (data-parallel rank 0). */
export function decodedBatch(b: EngineBatch): KvEventBatch {
  return { ts: b.ts, events: b.events.map(decodedEvent), dataParallelRank: 0 };
}

/**
 * Whether a policy reads KV events: its config gets a precise prefix producer when the process has
 * them (the `precise` preset; the `kvgate` preset's predicted-TTFT scorer, which prefers exact
 * matches) — as `createRouter` decides it. Policies that do not (round-robin, gie-default…) run
 * without the intake and their engines skip emitting events.
 */
export function readsKvEvents(config: EffectiveConfig): boolean {
  const probe: KvEventsView = { index: new ExactPrefixIndex(), status: () => undefined };
  return createRouter({ config, kvEvents: probe }).needsTokenIds;
}
