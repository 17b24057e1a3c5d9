import type { ExactPrefixIndex } from './exact-prefix-index.js';

/**
 * What the router sees of a process's KV-event intake. The intake itself (ZeroMQ subscriber,
 * decoder, replay) is data-layer work (`src/datalayer/kv-events/`, owned by the PoolRuntime);
 * `router/` may not import it, so the pool hands this view to `createRouter` and plugins read the
 * exact index and each endpoint's stream state through it.
 */
export interface KvEventsView {
  /** Every endpoint's blocks, as its engine reported them. */
  readonly index: ExactPrefixIndex;
  /** The endpoint's event-stream status; undefined when it has no stream (no KV-event port known). */
  status(endpointId: string): KvStreamStatus | undefined;
}

/**
 * `waiting`: subscribed, no batch yet; `live`: in sequence; `replaying`: a gap is being refilled
 * from the engine's replay socket; `stale`: batches were lost for good, the state is unknown until
 * the engine restarts or clears its cache.
 */
export type KvStreamState = 'waiting' | 'live' | 'replaying' | 'stale';

export interface KvStreamStatus {
  state: KvStreamState;
  /** Batches applied so far (grows with every batch; lets a reader tell whether any arrived since it last looked). */
  batches: number;
}

/**
 * Whether an endpoint's exact-index entries describe its engine now: its stream is in sequence, or
 * was reset after batches had flowed (an engine restart: the new engine's cache is empty, which is
 * exactly what the reset index says). A stream that never delivered a batch (not connected, wrong
 * port, an idle engine), one replaying a gap, or one stale after lost batches does not.
 */
export function exactStateKnown(st: KvStreamStatus | undefined): boolean {
  return st !== undefined && (st.state === 'live' || (st.state === 'waiting' && st.batches > 0));
}

/**
 * The model key the exact index is filled and queried with. The index is per endpoint, and the
 * lifecycle only offers endpoints that serve the requested model as candidates, so the model is
 * left out of the key: an engine knows its base model, a request names a served alias, and the two
 * would otherwise have to be reconciled. LoRA adapters stay in the key (vLLM's `lora_name`).
 */
export const EXACT_INDEX_MODEL = '';

/** Router-side tokenization of a prompt text into the engine's token ids (shared/tokenizer implements it). */
export interface PromptTokenizer {
  readonly name: string;
  encodeIds(text: string): ArrayLike<number>;
}
