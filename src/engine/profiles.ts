import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KvgateError, ErrorCode } from '../shared/errors.js';

/** Resolved the same from src/engine/ (tsx) and dist/engine/ (built). */
const PROFILE_DIR = fileURLToPath(new URL('../../profiles/', import.meta.url));

const LatencySchema = z.object({
  stepBaseMs: z.number().min(0),
  /** Extra time of a step that contains any prefill (fixed prefill cost; 0 in the shipped profiles). */
  prefillOverheadMs: z.number().min(0).default(0),
  prefillMsPerToken: z.number().min(0),
  decodeMsPerSeq: z.number().min(0),
  contextMsPerToken: z.number().min(0).default(0),
  /**
   * Gaussian jitter (standard deviation, ms) of a step's prefill part and of its decode part, as
   * llm-d-inference-sim's `prefill-time-std-dev` / `time-to-first-token-std-dev` and
   * `inter-token-latency-std-dev`; a draw is clamped to ±70 % of its mean (its rule).
   */
  prefillStdDevMs: z.number().min(0).default(0),
  decodeStdDevMs: z.number().min(0).default(0),
  /**
   * llm-d-inference-sim's `time-factor-under-load` (≥ 1): a step with r running requests takes
   * 1 + (factor − 1)·(r − 1)/(max_num_seqs − 1) times as long.
   */
  timeFactorUnderLoad: z.number().min(1).default(1),
});

const ProfileSchema = z.object({
  name: z.string(),
  description: z.string(),
  model: z.string(),
  latency: LatencySchema,
  engine: z.object({
    numGpuBlocks: z.number().int().positive(),
    maxNumSeqs: z.number().int().positive(),
    maxNumBatchedTokens: z.number().int().positive(),
    maxModelLen: z.number().int().positive(),
    blockSize: z.number().int().positive(),
  }),
  derivation: z.record(z.string(), z.string()),
});

export type LatencyProfile = z.infer<typeof ProfileSchema>;
export type LatencyModel = z.infer<typeof LatencySchema>;

export const DEFAULT_PROFILE = 'qwen2.5-3b-tpu-v6e';

export function listProfiles(): string[] {
  return readdirSync(PROFILE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/**
 * KV block sizes (tokens) a replica may use: vLLM's CUDA backends' choices from 8 up, and the
 * range `kvgate sim` accepts (`--block-size`). `kvgate simulate` holds its modelled replicas to the
 * same set, so a simulated fleet is one `kvgate up` could run.
 */
export const BLOCK_SIZES: readonly number[] = [8, 16, 32, 64, 128];

export function loadProfile(name: string): LatencyProfile {
  const known = listProfiles();
  if (!known.includes(name)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `unknown profile "${name}" (available: ${known.join(', ')})`, {
      param: 'profile',
    });
  }
  const raw = JSON.parse(readFileSync(`${PROFILE_DIR}${name}.json`, 'utf8'));
  const parsed = ProfileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new KvgateError(ErrorCode.InvalidConfig, `profile ${name}: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** The load multiplier of llm-d-inference-sim's `time-factor-under-load` for `running` of `maxNumSeqs` requests. */
export function loadFactor(timeFactorUnderLoad: number, running: number, maxNumSeqs: number): number {
  if (timeFactorUnderLoad <= 1 || maxNumSeqs <= 1 || running <= 1) return 1;
  return 1 + ((timeFactorUnderLoad - 1) * (Math.min(running, maxNumSeqs) - 1)) / (maxNumSeqs - 1);
}

/**
 * Duration of one engine step. Prefill is compute-bound (linear in scheduled prompt tokens);
 * decode is memory-bound (a fixed weight read per step, small growth per sequence and per
 * context token attended).
 */
export function stepDurationMs(m: LatencyModel, prefillTokens: number, decodeSeqs: number, contextTokens: number): number {
  if (prefillTokens === 0 && decodeSeqs === 0) return 0;
  return (
    m.stepBaseMs +
    (prefillTokens > 0 ? m.prefillOverheadMs : 0) +
    prefillTokens * m.prefillMsPerToken + decodeSeqs * m.decodeMsPerSeq + contextTokens * m.contextMsPerToken
  );
}
