export type { KvCacheEvent, KvEventBatch, KvEventMessage, BlockStoredEvent, BlockRemovedEvent, AllBlocksClearedEvent, BlockExtraKeys, EngineBlockHash } from './events.js';
export { decodeBatch, decodeEvent, decodeMessage, DecodeErrorCounts, DECODE_ERROR_KINDS, type DecodeError, type DecodeErrorKind } from './decoder.js';
export { KvEventSubscriber, type KvEventSink, type KvEventEndpoint, type KvEventSubscriberOptions, type KvEventSubscriberStats, type EndpointEventStatus, type TopicResolver, type ResetReason } from './subscriber.js';
export { exactIndexSink } from './index-sink.js';
export { parseKvTopic } from './topic.js';
export { LogOncePerKind } from './log-once.js';
export { KvEventIntake, KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL, type KvEventIntakeOptions } from './kv-event-intake.js';
