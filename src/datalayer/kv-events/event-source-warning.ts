import type { EndpointInfo } from '../../router/api.js';
import { usesPrecisePrefix, type EffectiveConfig } from '../../router/index.js';
import type { Logger } from '../../shared/logger.js';
import { KV_EVENTS_PORT_LABEL } from './labels.js';
import type { KvEventIntakeOptions } from './kv-event-intake.js';

/**
 * A precise preset over a static endpoint list that names no KV-event port anywhere can only fall
 * back to approximate matching: say so once at startup, naming the flags, instead of routing
 * silently on guesses. (Files and InferencePools may carry the port per endpoint, later.)
 */
export function warnWithoutEventSource(o: { config: EffectiveConfig; kvEvents?: KvEventIntakeOptions; endpoints?: EndpointInfo[]; endpointsFile?: string; kubernetes?: unknown }, logger: Logger): void {
  if (!usesPrecisePrefix(o.config) || o.kvEvents?.port !== undefined || o.kvEvents?.bind !== undefined || o.endpointsFile || o.kubernetes) return;
  if ((o.endpoints ?? []).some((e) => e.labels[KV_EVENTS_PORT_LABEL] !== undefined)) return;
  logger.warn(
    { config: o.config.source },
    'precise prefix routing without a KV-event source: give --kv-events-port (the engines\' vLLM --kv-events-config endpoint port) or --kv-events-bind; until then every endpoint is matched approximately',
  );
}
