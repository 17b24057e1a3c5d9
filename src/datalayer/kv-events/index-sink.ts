import type { ExactPrefixIndex } from '../../router/prefix/exact-prefix-index.js';
import type { KvEventSink } from './subscriber.js';

/**
 * The sink that keeps an exact prefix index current: every event of a batch applied in order; a
 * restarted stream resets the endpoint's blocks, a removed endpoint leaves the index.
 */
export function exactIndexSink(index: ExactPrefixIndex): KvEventSink {
  return {
    onBatch(endpointId, model, batch) {
      for (const e of batch.events) index.apply(endpointId, model, e);
    },
    onReset(endpointId, reason) {
      if (reason === 'endpoint_removed') index.removeEndpoint(endpointId);
      else index.resetEndpoint(endpointId);
    },
  };
}
