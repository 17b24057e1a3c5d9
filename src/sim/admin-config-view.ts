import type { LatencyModel } from '../engine/index.js';
import type { FakeMetrics } from './fake-metrics-config.js';
import { formatGoDuration } from './go-duration.js';
import type { LatencySettings } from './latency-settings.js';
import type { LoraAdapter } from './lora.js';
import type { FailureType, SimOptions } from './options.js';

/**
 * GET /admin/config: kvgate's first keys (snake_case, milliseconds) followed by the configuration
 * as llm-d-inference-sim shows it (its hyphenated keys, durations as Go duration strings).
 */
export function adminConfigView(
  o: SimOptions,
  s: {
    runtime: { failureInjectionRate: number; failureTypes: FailureType[] };
    latency: LatencySettings;
    baseLatency: LatencyModel;
    fake?: FakeMetrics;
    servedNames: string[];
    loras: LoraAdapter[];
    port: number;
  },
): Record<string, unknown> {
  const l = s.latency;
  const d = (ms: number | undefined) => formatGoDuration(ms ?? 0);
  return {
    failure_injection_rate: s.runtime.failureInjectionRate,
    failure_types: s.runtime.failureTypes,
    step_base_ms: s.baseLatency.stepBaseMs,
    prefill_overhead_ms: s.baseLatency.prefillOverheadMs,
    prefill_ms_per_token: s.baseLatency.prefillMsPerToken,
    decode_ms_per_seq: s.baseLatency.decodeMsPerSeq,
    port: s.port,
    model: o.model,
    'served-model-name': s.servedNames,
    'lora-modules': s.loras.map((a) => ({ name: a.name, path: a.path, base_model_name: a.base_model_name ?? '' })),
    'max-loras': o.maxLoras,
    'max-cpu-loras': o.maxCpuLoras ?? o.maxLoras,
    'max-num-seqs': o.maxNumSeqs ?? null,
    'max-waiting-queue-length': o.maxWaitingQueueLength ?? null,
    'max-model-len': o.maxModelLen ?? null,
    mode: o.mode,
    seed: o.seed,
    'latency-calculator': l.latencyCalculator,
    'time-to-first-token': d(l.timeToFirstToken),
    'time-to-first-token-std-dev': d(l.timeToFirstTokenStdDev),
    'inter-token-latency': d(l.interTokenLatency),
    'inter-token-latency-std-dev': d(l.interTokenLatencyStdDev),
    'prefill-overhead': d(l.prefillOverhead),
    'prefill-time-per-token': d(l.prefillTimePerToken),
    'prefill-time-std-dev': d(l.prefillTimeStdDev),
    'kv-cache-transfer-latency': d(l.kvCacheTransferLatency),
    'kv-cache-transfer-latency-std-dev': d(l.kvCacheTransferLatencyStdDev),
    'kv-cache-transfer-time-per-token': d(l.kvCacheTransferTimePerToken),
    'kv-cache-transfer-time-std-dev': d(l.kvCacheTransferTimeStdDev),
    'time-factor-under-load': l.timeFactorUnderLoad,
    'enable-kvcache': Boolean(o.kvEventsEndpoint),
    'kv-cache-size': o.kvCacheSize ?? null,
    'block-size': o.blockSize ?? null,
    'hash-seed': o.hashSeed ?? '',
    'zmq-endpoint': o.kvEventsEndpoint ?? '',
    'kv-events-replay-endpoint': o.kvEventsReplayEndpoint ?? '',
    'kv-events-replay-queue-size': o.kvEventsReplayBufferSize,
    'event-batch-size': o.kvEventsBatchSize ?? null,
    'use-vllm-map-event-format': o.kvEventsFormat === 'map',
    'global-cache-hit-threshold': o.globalCacheHitThreshold,
    'failure-injection-rate': s.runtime.failureInjectionRate,
    'failure-types': s.runtime.failureTypes,
    'fake-metrics': s.fake ?? null,
    'data-parallel-rank': o.dataParallelRank,
    'startup-duration': d(o.startupDurationMs),
    'enable-sleep-mode': o.enableSleepMode,
    'enable-request-id-headers': o.enableRequestIdHeaders,
    'default-embedding-dimensions': o.defaultEmbeddingDimensions,
    'max-request-body-size-mb': o.maxRequestBodyBytes / (1024 * 1024),
    'ssl-certfile': o.sslCertFile ?? '',
    'ssl-keyfile': o.sslKeyFile ?? '',
    'self-signed-certs': o.selfSignedCerts,
  };
}
