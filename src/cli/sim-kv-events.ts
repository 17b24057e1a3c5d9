/** The KV-event flags of `kvgate sim`, as parsed (vLLM's --kv-events-config and llm-d-inference-sim's forms). */
export interface SimKvEventFlags {
  kvEventsEndpoint?: string;
  kvEventsTopic?: string;
  kvEventsReplayEndpoint?: string;
  kvEventsReplayQueueSize: number;
  kvEventsConfig?: Record<string, unknown>;
  enableKvcache?: boolean;
  zmqEndpoint?: string;
}

/** Where `kvgate sim` publishes KV events, once its three ways of saying so are resolved. */
export interface SimKvEventTarget {
  /** Undefined: no events published. */
  endpoint?: string;
  topic?: string;
  replayEndpoint?: string;
  replayBuffer: number;
  /** The endpoint is vLLM's default, not written by the user: bind it on the HTTP host. */
  bindHttpHost: boolean;
}

/** llm-d-inference-sim's default KV-event endpoint with --enable-kvcache. */
export const LLMD_ZMQ_ENDPOINT = 'tcp://127.0.0.1:5557';
/** vLLM's default KVEventsConfig endpoint. */
export const VLLM_KV_EVENTS_ENDPOINT = 'tcp://*:5557';

/**
 * Resolves the KV-event target: explicit flags first, then vLLM's `--kv-events-config`
 * (`enable_kv_cache_events`, `endpoint`, `topic`, `replay_endpoint`, `buffer_steps`; no endpoint =
 * vLLM's tcp://*:5557), then llm-d-inference-sim's `--enable-kvcache` / `--zmq-endpoint`.
 * vLLM's default endpoint binds every interface beside a server that listens on all of them by
 * default; kvgate sim's HTTP listens on --host (127.0.0.1 by default), and so does that endpoint
 * (`bindHttpHost`). One the user wrote, `tcp://*:5557` included, is taken as written.
 */
export function simKvEventTarget(o: SimKvEventFlags): SimKvEventTarget {
  let endpoint = o.kvEventsEndpoint;
  let topic = o.kvEventsTopic;
  let replayEndpoint = o.kvEventsReplayEndpoint;
  let replayBuffer = o.kvEventsReplayQueueSize;
  let bindHttpHost = false;
  const kvc = o.kvEventsConfig;
  if (kvc && kvc.enable_kv_cache_events === true) {
    bindHttpHost = !endpoint && typeof kvc.endpoint !== 'string';
    endpoint ??= typeof kvc.endpoint === 'string' ? kvc.endpoint : VLLM_KV_EVENTS_ENDPOINT;
    topic ??= typeof kvc.topic === 'string' ? kvc.topic : '';
    replayEndpoint ??= typeof kvc.replay_endpoint === 'string' ? kvc.replay_endpoint : undefined;
    if (typeof kvc.buffer_steps === 'number') replayBuffer = kvc.buffer_steps;
  }
  if (o.enableKvcache === true && !endpoint) {
    endpoint = o.zmqEndpoint ?? LLMD_ZMQ_ENDPOINT;
    topic ??= 'kv@{host}:{port}@{model}';
  }
  return { endpoint, topic, replayEndpoint, replayBuffer, bindHttpHost };
}
