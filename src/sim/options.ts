import { z } from 'zod';

export const FAILURE_TYPES = ['rate_limit', 'invalid_api_key', 'context_length', 'server_error', 'invalid_request', 'model_not_found'] as const;
export type FailureType = (typeof FAILURE_TYPES)[number];

/** Everything `kvgate sim` can be told; CLI flags map 1:1 (kebab-case). */
export const SimOptionsSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8000),
    model: z.string().min(1).default('Qwen/Qwen2.5-3B-Instruct'),
    servedModelNames: z.array(z.string().min(1)).default([]),
    profile: z.string().default('qwen2.5-3b-tpu-v6e'),
    mode: z.enum(['random', 'echo']).default('random'),
    tokenizer: z.string().default('estimate'),
    maxModelLen: z.number().int().positive().optional(),
    maxNumSeqs: z.number().int().positive().optional(),
    maxNumBatchedTokens: z.number().int().positive().optional(),
    blockSize: z.number().int().refine((v) => [8, 16, 32, 64, 128].includes(v), 'must be 8, 16, 32, 64 or 128').optional(),
    kvCacheSize: z.number().int().positive().optional(),
    enablePrefixCaching: z.boolean().default(true),
    /** Constant-latency overrides (ms) of the profile's step model. */
    timeToFirstToken: z.number().min(0).optional(),
    interTokenLatency: z.number().min(0).optional(),
    seed: z.number().int().default(0),
    kvEventsEndpoint: z.string().optional(),
    kvEventsTopic: z.string().default(''),
    kvEventsFormat: z.enum(['array', 'map']).default('array'),
    kvEventsReplayEndpoint: z.string().optional(),
    failureInjectionRate: z.number().min(0).max(100).default(0),
    failureTypes: z.array(z.enum(FAILURE_TYPES)).default([]),
    startupDurationMs: z.number().min(0).default(0),
    maxRequestBodyBytes: z.number().int().positive().default(4 * 1024 * 1024),
    legacyMetrics: z.boolean().default(false),
  })
  .strict();

export type SimOptions = z.infer<typeof SimOptionsSchema>;
export type SimOptionsInput = z.input<typeof SimOptionsSchema>;

/** Fields `/admin/config` may change at run time (snake_case, as llm-d-inference-sim). */
export const RuntimeConfigSchema = z
  .object({
    failure_injection_rate: z.number().min(0).max(100),
    failure_types: z.array(z.enum(FAILURE_TYPES)),
    time_to_first_token: z.number().min(0),
    inter_token_latency: z.number().min(0),
    step_base_ms: z.number().min(0),
    prefill_ms_per_token: z.number().min(0),
    decode_ms_per_seq: z.number().min(0),
  })
  .partial()
  .strict();
export type RuntimeConfigPatch = z.infer<typeof RuntimeConfigSchema>;
