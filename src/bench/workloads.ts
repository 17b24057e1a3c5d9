import { readFileSync } from 'node:fs';
import { seededRandom } from './stats.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { tracePromptText, type TraceRecord } from './trace.js';

export interface ChatMessage {
  role: string;
  content: string;
}

/** One request to send; turns of a conversation carry the same conversation id and run in order. */
export interface BenchRequest {
  kind: 'chat' | 'completions';
  prompt?: string;
  messages?: ChatMessage[];
  maxTokens: number;
  group?: number;
  conversation?: number;
  turn?: number;
  /** Trace replay: the record the prompt is synthesised from (text built when sent, never held). */
  trace?: TraceRecord;
  /** Trace replay: send time, ms after the run's start (timestamp × time scale). */
  arrivalMs?: number;
}

/** The prompt text of a completions request (synthesised for trace requests). */
export function promptOf(r: BenchRequest): string | undefined {
  return r.prompt ?? (r.trace ? tracePromptText(r.trace) : undefined);
}

/**
 * Requests of a trace replay, in arrival order: completions, `max_tokens` = output_length (at
 * least 1, as the API requires), sent at timestamp × `timeScale` (0.5 replays twice as fast).
 */
export function traceWorkload(records: TraceRecord[], timeScale: number): BenchRequest[] {
  if (!(timeScale > 0) || !Number.isFinite(timeScale)) {
    throw new KvgateError(ErrorCode.InvalidConfig, `--time-scale must be a positive number (got ${timeScale})`, { param: 'time-scale' });
  }
  const t0 = records[0]?.timestampMs ?? 0;
  return records.map((trace) => ({ kind: 'completions' as const, maxTokens: Math.max(1, trace.outputLength), trace, arrivalMs: (trace.timestampMs - t0) * timeScale }));
}

/** The named request mixes of `--workload` (kvgate bench and kvgate simulate). */
export const WORKLOADS = ['shared-prefix', 'generated-shared-prefix', 'prefix-repetition', 'multi-turn', 'random', 'decode-heavy'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

/** The flags that shape a synthetic workload (addWorkloadShapeOptions), as WorkloadOptions names them. */
export const SHAPE_KEYS = ['numGroups', 'promptsPerGroup', 'systemPromptLen', 'questionLen', 'outputLen', 'multiTurn', 'prefixLen', 'suffixLen', 'numPrefixes', 'inputLen', 'numConversations', 'turns'] as const;
export type ShapeKey = (typeof SHAPE_KEYS)[number];

/**
 * Which shape flags each source of requests reads, with the value it takes when the flag is not
 * given (tokens for lengths). buildWorkload reads its defaults here, --help prints them from here,
 * and the CLI refuses a given flag the chosen source does not read (it would be ignored).
 * `dataset` (and bench's `--prompt`): --output-len is max_tokens of lines without one; `trace`:
 * every length comes from the trace.
 */
export const WORKLOAD_DEFAULTS: Record<WorkloadName | 'dataset' | 'trace', Partial<Record<ShapeKey, number | boolean>>> = {
  'shared-prefix': { numGroups: 10, promptsPerGroup: 10, systemPromptLen: 100, questionLen: 50, outputLen: 50, multiTurn: false }, // inference-perf's
  'generated-shared-prefix': { numGroups: 64, promptsPerGroup: 16, systemPromptLen: 2048, questionLen: 128, outputLen: 256, multiTurn: false }, // SGLang bench_serving's
  'prefix-repetition': { numPrefixes: 10, prefixLen: 256, suffixLen: 256, outputLen: 128 }, // vLLM's
  'multi-turn': { numConversations: 10, turns: 5, systemPromptLen: 200, questionLen: 50, outputLen: 50 },
  random: { inputLen: 256, outputLen: 64 },
  'decode-heavy': { inputLen: 256, outputLen: 1024 },
  dataset: { outputLen: 64 },
  trace: {},
};

/** Requests a workload builds when --num-requests does not size it (closed loops send that many). */
export const RANDOM_NUM_REQUESTS = 100;

/**
 * Most requests one bench or simulate run takes (--num-requests): 1,000,000. A workload is built
 * up front (its text and a result per request are held), and 10,000,000 random requests ran out
 * of heap building their prompts. A million is hours of a real bench and well past where
 * percentiles settle; larger runs are several runs.
 */
export const MAX_NUM_REQUESTS = 1_000_000;

/**
 * Longest length one workload shape flag takes (--system-prompt-len, --question-len, --prefix-len,
 * --suffix-len, --input-len, --output-len): 2^24 = 16,777,216 tokens, above the largest context
 * window any served model has (Llama 4 Scout's 10M), so no request of a real run needs more, while
 * a --system-prompt-len of 1e9 spent minutes building text before the run began.
 */
export const MAX_SHAPE_TOKENS = 2 ** 24;

/**
 * Largest count one workload shape flag takes (--num-groups, --prompts-per-group, --num-prefixes,
 * --num-conversations, --turns): MAX_NUM_REQUESTS, as a workload never holds more requests than a
 * run does; groups × prompts and conversations × turns are held to it too (buildWorkload).
 * `--num-groups 1e8` otherwise built groups until the heap ran out.
 */
export const MAX_SHAPE_COUNT = MAX_NUM_REQUESTS;

/**
 * Most prompt tokens a synthetic workload sized by --num-requests builds: 2^28 (268,435,456
 * tokens, ~1 GiB of text at the estimate tokenizer's 4 characters a token), under Node's default
 * heap, so --num-requests within its limit times a long --input-len is still a clear error.
 */
export const MAX_WORKLOAD_PROMPT_TOKENS = 2 ** 28;

/** `tokens` within MAX_WORKLOAD_PROMPT_TOKENS, else InvalidConfig naming `flags` (the formula) and what to lower (`param`: the first count flag). */
function refuseHugeWorkload(tokens: number, flags: string, param = 'num-requests'): void {
  if (tokens <= MAX_WORKLOAD_PROMPT_TOKENS) return;
  throw new KvgateError(
    ErrorCode.InvalidConfig,
    `${flags}: ${tokens.toLocaleString('en-US')} prompt tokens to build, more than the ${MAX_WORKLOAD_PROMPT_TOKENS.toLocaleString('en-US')} (2^28, ~1 GiB of text) a workload holds: lower --${param} or the prompt length`,
    { param },
  );
}

export interface WorkloadOptions {
  workload: string;
  seed: number;
  numRequests?: number;
  // shared-prefix (inference-perf) and generated-shared-prefix (SGLang)
  numGroups?: number;
  promptsPerGroup?: number;
  systemPromptLen?: number;
  questionLen?: number;
  outputLen?: number;
  multiTurn?: boolean;
  // prefix-repetition (vLLM)
  prefixLen?: number;
  suffixLen?: number;
  numPrefixes?: number;
  // random
  inputLen?: number;
  // multi-turn
  numConversations?: number;
  turns?: number;
  dataset?: string;
}

/**
 * Text of exactly `tokens` tokens for the project's estimate tokenizer (4 characters a token):
 * three random letters and a space per token, so lengths are exact and contents distinct.
 */
export function textOfTokens(tokens: number, random: () => number): string {
  // Bytes then one decode: appending a character at a time built a rope of one-character strings
  // (a seventh of what `kvgate simulate` allocated on the llm-d shape).
  const b = Buffer.allocUnsafe(tokens * 4);
  for (let i = 0; i < tokens * 4; i += 4) {
    for (let j = 0; j < 3; j++) b[i + j] = 97 + Math.floor(random() * 26);
    b[i + 3] = 32; // ' '
  }
  return b.toString('latin1');
}

function shuffle<T>(xs: T[], random: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** A workload's requests, `count` (a product of two count flags, named in `flags`), within MAX_SHAPE_COUNT, else InvalidConfig naming them. */
function refuseTooManyRequests(count: number, flags: string, param: string): void {
  if (count <= MAX_SHAPE_COUNT) return;
  throw new KvgateError(ErrorCode.InvalidConfig, `${flags}: ${count.toLocaleString('en-US')} requests, more than the ${MAX_SHAPE_COUNT.toLocaleString('en-US')} a run holds: lower one of them`, { param });
}

function sharedPrefix(o: WorkloadOptions, d: Partial<Record<ShapeKey, number | boolean>>): BenchRequest[] {
  const r = seededRandom(o.seed);
  const groups = o.numGroups ?? (d.numGroups as number);
  const per = o.promptsPerGroup ?? (d.promptsPerGroup as number);
  const sysLen = o.systemPromptLen ?? (d.systemPromptLen as number);
  const qLen = o.questionLen ?? (d.questionLen as number);
  const out = o.outputLen ?? (d.outputLen as number);
  refuseTooManyRequests(groups * per, '--num-groups × --prompts-per-group', 'num-groups');
  refuseHugeWorkload(groups * sysLen + groups * per * qLen, '--num-groups × --system-prompt-len + --num-groups × --prompts-per-group × --question-len', 'num-groups');
  const reqs: BenchRequest[] = [];
  for (let g = 0; g < groups; g++) {
    const system = textOfTokens(sysLen, r);
    for (let p = 0; p < per; p++) {
      const question = textOfTokens(qLen, r);
      if (o.multiTurn) reqs.push({ kind: 'chat', messages: [{ role: 'system', content: system }, { role: 'user', content: question }], maxTokens: out, group: g, conversation: g, turn: p });
      else reqs.push({ kind: 'completions', prompt: system + question, maxTokens: out, group: g });
    }
  }
  return o.multiTurn ? reqs : shuffle(reqs, r);
}

/**
 * The shortest prompt a synthetic workload sends, in tokens of the estimate tokenizer (its text is
 * built to exact lengths: textOfTokens), with the flags it comes from and the max_tokens every request
 * asks for: shared-prefix and multi-turn send system prompt + question (chat requests add their
 * template's tokens, and later turns their history, so this is a lower bound), prefix-repetition
 * prefix + suffix, random and decode-heavy the input. Undefined for a dataset (or trace): their
 * prompts vary.
 */
export function shortestPrompt(o: WorkloadOptions): { promptTokens: number; parts: string; flags: string; maxTokens: number } | undefined {
  const d = WORKLOAD_DEFAULTS[o.workload as WorkloadName];
  if (!d || o.workload === 'dataset') return undefined;
  const n = (k: ShapeKey): number => (o[k] as number | undefined) ?? (d[k] as number);
  const [keys, flags] = ((): [ShapeKey[], string] => {
    switch (o.workload as WorkloadName) {
      case 'prefix-repetition':
        return [['prefixLen', 'suffixLen'], '--prefix-len + --suffix-len'];
      case 'random':
      case 'decode-heavy':
        return [['inputLen'], '--input-len'];
      default:
        return [['systemPromptLen', 'questionLen'], '--system-prompt-len + --question-len'];
    }
  })();
  const lens = keys.map(n);
  return { promptTokens: lens.reduce((a, b) => a + b, 0), parts: lens.join(' + '), flags, maxTokens: n('outputLen') };
}

/** Builds the request list of a named workload (deterministic for a seed). */
export function buildWorkload(o: WorkloadOptions): BenchRequest[] {
  const r = seededRandom(o.seed);
  // A flag given, else the workload's default (WORKLOAD_DEFAULTS, which --help shows).
  const d = WORKLOAD_DEFAULTS[o.workload as keyof typeof WORKLOAD_DEFAULTS] ?? {};
  const n = (k: ShapeKey): number => (o[k] as number | undefined) ?? (d[k] as number);
  switch (o.workload) {
    case 'shared-prefix':
    case 'generated-shared-prefix':
      return sharedPrefix(o, d);
    case 'prefix-repetition': {
      refuseHugeWorkload(n('numPrefixes') * n('prefixLen') + (o.numRequests ?? RANDOM_NUM_REQUESTS) * n('suffixLen'), '--num-requests × --suffix-len + --num-prefixes × --prefix-len');
      const prefixes = Array.from({ length: n('numPrefixes') }, () => textOfTokens(n('prefixLen'), r));
      return Array.from({ length: o.numRequests ?? RANDOM_NUM_REQUESTS }, (_, i) => ({
        kind: 'completions' as const,
        prompt: prefixes[i % prefixes.length] + textOfTokens(n('suffixLen'), r),
        maxTokens: n('outputLen'),
        group: i % prefixes.length,
      }));
    }
    case 'multi-turn': {
      refuseTooManyRequests(n('numConversations') * n('turns'), '--num-conversations × --turns', 'num-conversations');
      refuseHugeWorkload(n('numConversations') * (n('systemPromptLen') + n('turns') * n('questionLen')), '--num-conversations × (--system-prompt-len + --turns × --question-len)', 'num-conversations');
      const reqs: BenchRequest[] = [];
      for (let c = 0; c < n('numConversations'); c++) {
        const system = textOfTokens(n('systemPromptLen'), r);
        for (let t = 0; t < n('turns'); t++) {
          reqs.push({ kind: 'chat', messages: [{ role: 'system', content: system }, { role: 'user', content: textOfTokens(n('questionLen'), r) }], maxTokens: n('outputLen'), conversation: c, turn: t, group: c });
        }
      }
      return reqs;
    }
    case 'random':
    case 'decode-heavy': // decode-heavy: short unrelated prompts, long answers (its defaults): decode-bound, as llm-d's "reasoning" mix
      refuseHugeWorkload((o.numRequests ?? RANDOM_NUM_REQUESTS) * n('inputLen'), '--num-requests × --input-len');
      return Array.from({ length: o.numRequests ?? RANDOM_NUM_REQUESTS }, () => ({ kind: 'completions' as const, prompt: textOfTokens(n('inputLen'), r), maxTokens: n('outputLen') }));
    case 'dataset':
      return readDataset(o.dataset!, n('outputLen'));
    default:
      throw new KvgateError(ErrorCode.InvalidConfig, `unknown --workload "${o.workload}" (shared-prefix, generated-shared-prefix, prefix-repetition, multi-turn, random, decode-heavy, or --dataset FILE / --trace FILE)`);
  }
}

/** JSONL: one {"prompt": …} or {"messages": […]} per line, optional "max_tokens". */
export function readDataset(path: string, defaultOut: number): BenchRequest[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `--dataset ${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const out: BenchRequest[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let o: { prompt?: unknown; messages?: unknown; max_tokens?: unknown };
    try {
      o = JSON.parse(line);
    } catch (err) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--dataset ${path}:${i + 1}: invalid JSON (${(err as Error).message})`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new KvgateError(ErrorCode.InvalidConfig, `--dataset ${path}:${i + 1}: expected a JSON object with "prompt" or "messages"`);
    // A max_tokens that is there but unusable is the line's mistake: running it with the default
    // instead would measure another workload than the file describes.
    const mt = o.max_tokens;
    if (mt !== undefined && mt !== null && !(typeof mt === 'number' && Number.isInteger(mt) && mt >= 1)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--dataset ${path}:${i + 1}: "max_tokens" must be a whole number >= 1 (got ${JSON.stringify(mt)})`);
    }
    const maxTokens = typeof mt === 'number' ? mt : defaultOut;
    if (typeof o.prompt === 'string') out.push({ kind: 'completions', prompt: o.prompt, maxTokens });
    else if (Array.isArray(o.messages)) out.push({ kind: 'chat', messages: o.messages as ChatMessage[], maxTokens });
    else throw new KvgateError(ErrorCode.InvalidConfig, `--dataset ${path}:${i + 1}: expected a "prompt" string or a "messages" array`);
  });
  if (out.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, `--dataset ${path}: no requests`);
  return out;
}
