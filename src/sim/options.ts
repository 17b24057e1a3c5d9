import { z } from 'zod';
import { FakeMetricsSchema } from './fake-metrics-config.js';
import { BLOCK_SIZES } from '../engine/profiles.js';
import { unbracketHost } from '../shared/host-port.js';

export const FAILURE_TYPES = ['rate_limit', 'invalid_api_key', 'context_length', 'server_error', 'invalid_request', 'model_not_found'] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];
export const LATENCY_CALCULATORS = ['', 'constant', 'per-token'] as const;

const ms = z.number().min(0);

/**
 * Everything `kvgate sim` can be told; CLI flags map 1:1 (kebab-case), and llm-d-inference-sim's
 * names are aliases of these (see docs/sim.md). Durations are milliseconds.
 */
export const SimOptionsSchema = z
  .object({
    /** Listen address; an IPv6 one bare or bracketed (`::1`, `[::1]`), kept bare. */
    host: z.string().default('127.0.0.1').transform(unbracketHost),
    port: z.number().int().min(0).max(65535).default(8000),
    model: z.string().min(1).default('Qwen/Qwen2.5-3B-Instruct'),
    servedModelNames: z.array(z.string().min(1)).default([]),
    profile: z.string().default('qwen2.5-3b-tpu-v6e'),
    mode: z.enum(['random', 'echo']).default('random'),
    tokenizer: z.string().default('estimate'),
    maxModelLen: z.number().int().positive().optional(),
    maxNumSeqs: z.number().int().positive().optional(),
    maxNumBatchedTokens: z.number().int().positive().optional(),
    blockSize: z.number().int().refine((v) => BLOCK_SIZES.includes(v), `must be ${BLOCK_SIZES.slice(0, -1).join(', ')} or ${BLOCK_SIZES[BLOCK_SIZES.length - 1]}`).optional(),
    kvCacheSize: z.number().int().positive().optional(),
    enablePrefixCaching: z.boolean().default(true),
    /** Constant-latency overrides (ms) of the profile's step model. */
    timeToFirstToken: ms.optional(),
    interTokenLatency: ms.optional(),
    /** llm-d-inference-sim's latency flags (ms); see docs/sim.md for how they map onto the step model. */
    latencyCalculator: z.enum(LATENCY_CALCULATORS).default(''),
    timeToFirstTokenStdDev: ms.default(0),
    interTokenLatencyStdDev: ms.default(0),
    prefillOverhead: ms.optional(),
    prefillTimePerToken: ms.optional(),
    prefillTimeStdDev: ms.default(0),
    kvCacheTransferLatency: ms.default(0),
    kvCacheTransferLatencyStdDev: ms.default(0),
    kvCacheTransferTimePerToken: ms.default(0),
    kvCacheTransferTimeStdDev: ms.default(0),
    timeFactorUnderLoad: z.number().min(1, 'must be >= 1.0').default(1),
    seed: z.number().int().default(0),
    kvEventsEndpoint: z.string().optional(),
    kvEventsTopic: z.string().default(''),
    kvEventsFormat: z.enum(['array', 'map']).default('array'),
    kvEventsReplayEndpoint: z.string().optional(),
    /**
     * Bind a wildcard (`tcp://*:port`) KV-event endpoint / replay endpoint on the address HTTP
     * listens on (--host) rather than on every interface. `kvgate up` narrows both, `kvgate sim`
     * the default endpoint of --kv-events-config (one the user did not write); an endpoint the
     * user wrote with `*` binds every interface, as vLLM's `tcp://*:5557`.
     */
    kvEventsBindHttpHost: z.object({ endpoint: z.boolean().default(false), replay: z.boolean().default(false) }).strict().default({ endpoint: false, replay: false }),
    /** Batches kept for replay (vLLM's buffer_steps; llm-d-inference-sim's kv-events-replay-queue-size). */
    kvEventsReplayBufferSize: z.number().int().positive().default(10_000),
    /** At most this many events per published batch (llm-d-inference-sim's event-batch-size); unset = one batch per engine step, as vLLM. */
    kvEventsBatchSize: z.number().int().positive().optional(),
    /** PYTHONHASHSEED equivalent folded into every block hash (default: the model name). */
    hashSeed: z.string().optional(),
    failureInjectionRate: z.number().min(0).max(100).default(0),
    failureTypes: z.array(z.enum(FAILURE_TYPES)).default([]),
    startupDurationMs: ms.default(0),
    maxRequestBodyBytes: z.number().int().positive().default(4 * 1024 * 1024),
    legacyMetrics: z.boolean().default(false),
    /** LoRA adapters known at start (vLLM's --lora-modules). */
    loraModules: z.array(z.object({ name: z.string().min(1), path: z.string(), base_model_name: z.string().optional() })).default([]),
    /** Distinct adapters in a running batch (vLLM's and llm-d-inference-sim's default: 1). */
    maxLoras: z.number().int().min(1, 'max LoRAs cannot be less than 1').default(1),
    /** Adapters kept in CPU memory; must be >= maxLoras (default: maxLoras). */
    maxCpuLoras: z.number().int().min(1).optional(),
    /** 429 once this many requests wait (llm-d-inference-sim's rule); unset = no cap, as vLLM. */
    maxWaitingQueueLength: z.number().int().min(0).optional(),
    /** vLLM's --max-logprobs. */
    maxLogprobs: z.number().int().min(0).default(20),
    /** Default cache-hit threshold in [0, 1] for requests without cache_hit_threshold (0 = off). */
    globalCacheHitThreshold: z.number().min(0).max(1).default(0),
    /** vLLM's data_parallel_rank of this server: engine label and KV-event batches carry it. */
    dataParallelRank: z.number().int().min(0).max(7).default(0),
    enableSleepMode: z.boolean().default(false),
    /** VLLM_SERVER_DEV_MODE=1: with enableSleepMode, /sleep takes effect (llm-d-inference-sim's gate). */
    vllmServerDevMode: z.boolean().default(false),
    enableRequestIdHeaders: z.boolean().default(false),
    /** POD_NAME / POD_NAMESPACE / POD_IP of llm-d-inference-sim: response headers and the KV-event topic. */
    podName: z.string().optional(),
    podNamespace: z.string().optional(),
    podIp: z.string().optional(),
    sslCertFile: z.string().optional(),
    sslKeyFile: z.string().optional(),
    selfSignedCerts: z.boolean().default(false),
    fakeMetrics: FakeMetricsSchema.optional(),
    fakeMetricsRefreshIntervalMs: z.number().positive().default(100),
    defaultEmbeddingDimensions: z.number().int().min(1).default(384),
    /**
     * Answer 400 to a body whose Content-Type is not application/json, as vLLM does. `kvgate sim`
     * turns it on (`--no-strict-content-type` turns it off); programmatic servers and `kvgate up`
     * replicas default to lenient, since the gateway forwards whatever its clients send.
     */
    requireJsonContentType: z.boolean().default(false),
    /** One log line per HTTP request (method, path, status, time; never bodies). */
    logHttp: z.boolean().default(false),
    /**
     * Bearer keys required on /v1, /v2, /inference and /cohere paths (vLLM's --api-key, else
     * $VLLM_API_KEY: see api-key-guard.ts); empty = no authentication, as vLLM without keys.
     */
    apiKeys: z.array(z.string().min(1, 'an API key cannot be empty')).default([]),
  })
  .strict()
  .superRefine((o, ctx) => {
    const stdDev = (mean: number | undefined, sd: number, path: string, what: string) => {
      if (sd > 0.3 * (mean ?? 0)) ctx.addIssue({ code: 'custom', path: [path], message: `${what} standard deviation cannot be more than 30% of ${what}` });
    };
    stdDev(o.timeToFirstToken, o.timeToFirstTokenStdDev, 'timeToFirstTokenStdDev', 'time to first token');
    stdDev(o.interTokenLatency, o.interTokenLatencyStdDev, 'interTokenLatencyStdDev', 'inter token latency');
    stdDev(o.kvCacheTransferLatency, o.kvCacheTransferLatencyStdDev, 'kvCacheTransferLatencyStdDev', 'kv-cache transfer latency');
    if (o.maxCpuLoras !== undefined && o.maxCpuLoras < o.maxLoras) ctx.addIssue({ code: 'custom', path: ['maxCpuLoras'], message: 'max CPU LoRAs cannot be less than max LoRAs' });
    if ((o.sslCertFile === undefined) !== (o.sslKeyFile === undefined)) ctx.addIssue({ code: 'custom', path: ['sslCertFile'], message: 'both ssl-certfile and ssl-keyfile must be provided together' });
    if (o.selfSignedCerts && o.sslCertFile) ctx.addIssue({ code: 'custom', path: ['selfSignedCerts'], message: 'cannot use both self-signed-certs and explicit ssl-certfile/ssl-keyfile' });
  });

export type SimOptions = z.infer<typeof SimOptionsSchema>;
export type SimOptionsInput = z.input<typeof SimOptionsSchema>;
