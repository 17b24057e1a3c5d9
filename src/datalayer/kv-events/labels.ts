/**
 * Endpoint labels that carry an engine's KV-event ports from discovery to the intake: an endpoints
 * file's `kvEventsPort` / `kvEventsReplayPort`, or the Pod annotation `kvgate.io/kv-events-port`
 * (Kubernetes discovery copies it to the label of the same name).
 */
export const KV_EVENTS_PORT_LABEL = 'kvgate.io/kv-events-port';
/** The engine's KV-event replay (ROUTER) port (vLLM's `replay_endpoint`). */
export const KV_EVENTS_REPLAY_PORT_LABEL = 'kvgate.io/kv-events-replay-port';
/** The data-parallel rank of an endpoint (InferencePool target-port index): vLLM offsets its event ports by it. */
export const RANK_LABEL = 'kvgate.io/rank';
