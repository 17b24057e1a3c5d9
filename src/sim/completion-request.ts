import { pydanticBool, pythonTruthy } from '../shared/pydantic-bool.js';
import { pydanticInt } from '../shared/pydantic-int.js';
import { pydanticFloat } from '../shared/pydantic-float.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import type { ChatMessage, Tokenizer } from '../engine/types.js';
import { messageText, renderChatML } from '../engine/index.js';
import { checkContentPart } from './content-parts.js';
import { checkToolFields } from './tool-fields.js';
import { checkSeedRange } from './seed-range.js';

/** One prompt of a request, tokenized once. */
export interface PromptInput {
  tokenIds: number[];
  /** The prompt as text (vLLM's `prompt` of a RequestOutput: what `echo` repeats). */
  text: string;
  /** The text of each prompt token when the tokenizer can say (logprob token strings). */
  pieces?: string[];
  /** What `--mode echo` answers: the last user message, or the prompt. */
  echoText: string;
}

/** kv_transfer_params of vLLM's P/D connectors (NixlConnector field names). */
export interface KvTransferParams {
  do_remote_decode?: boolean;
  do_remote_prefill?: boolean;
  remote_engine_id?: string | null;
  remote_block_ids?: unknown[] | null;
  remote_host?: string | null;
  remote_port?: number | null;
  tp_size?: number;
  [k: string]: unknown;
}

/** A validated completions or chat request (vLLM's CompletionRequest / ChatCompletionRequest subset). */
export interface CompletionRequest {
  kind: 'completions' | 'chat';
  model: string;
  /** One prompt for chat; one or more for completions (a batch, one choice group per prompt). */
  prompts: PromptInput[];
  /** Choices per prompt (`n`). */
  n: number;
  /** Tokens the client allows (null = not given). */
  maxTokens: number | null;
  /** Which field set maxTokens (for error params and metrics). */
  maxTokensParam: 'max_tokens' | 'max_completion_tokens';
  ignoreEos: boolean;
  /** vLLM's `stop`: strings that end generation (a single string becomes a list of one). */
  stop: string[];
  /** vLLM's `stop_token_ids`. */
  stopTokenIds: number[];
  /** vLLM's `include_stop_str_in_output`: keep the stop string (or stop token's text) in the answer. */
  includeStopStrInOutput: boolean;
  /** vLLM's `min_tokens`: no stop condition applies before this many tokens (0 = none). */
  minTokens: number;
  stream: boolean;
  includeUsage: boolean;
  continuousUsage: boolean;
  cacheSalt?: string;
  seed?: number;
  /** Completions: repeat the prompt before the answer. Chat: prepend the last message when it has the answer's role. */
  echo: boolean;
  /** Chat echo: the text prepended to the answer (vLLM's rule), or null. */
  chatEchoText: string | null;
  /** Completions `logprobs` (top entries per token) / chat `top_logprobs` when `logprobs` is true; null = none. */
  logprobs: number | null;
  /** `prompt_logprobs` (vLLM extension); with completions `echo`, defaults to `logprobs` as vLLM does. */
  promptLogprobs: number | null;
  /** llm-d-inference-sim's `cache_hit_threshold` in [0, 1]; null = not given. */
  cacheHitThreshold: number | null;
  kvTransferParams: KvTransferParams | null;
  /** vLLM's `request_id` body field. */
  requestId?: string;
}

/** Limits the parser needs from the server. */
export interface ParseLimits {
  /** vLLM's `--max-logprobs` (default 20). */
  maxLogprobs: number;
  /** Largest number of choices (n × prompts) one request may ask for: a memory guard. */
  maxChoices: number;
}

/**
 * Vocabulary size when the tokenizer does not say: Qwen2.5's (151,936 ids), the default model's.
 * The estimate tokenizer's ids stay below it, so prompts of its ids are always in range.
 */
const DEFAULT_VOCAB_SIZE = 151_936;

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxLogprobs: 20, maxChoices: 1024 };

function bad(message: string, param: string | null): KvgateError {
  return new KvgateError(ErrorCode.InvalidRequest, message, { param });
}

/** vLLM's VLLMValidationError text: the message with "(parameter=…, value=…)" appended. */
function vllmValidation(message: string, param: string, value?: unknown): KvgateError {
  const suffix = value === undefined ? `(parameter=${param})` : `(parameter=${param}, value=${String(value)})`;
  return bad(`${message} ${suffix}`, param);
}

/** An int field read as vLLM's pydantic models read it (lax: `"10"` is 10; see pydanticInt), or a 400 naming it. */
function optionalInt(body: Record<string, unknown>, key: string): number | null {
  const v = pydanticInt(body[key]);
  if (v === 'invalid') throw bad(`${key} must be an integer`, key);
  return v ?? null;
}

/** A bool field read as vLLM's pydantic models read it (lax: "yes", 1… are true; see pydanticBool), or a 400 naming it. */
function optionalBool(body: Record<string, unknown>, key: string, dflt = false): boolean {
  const v = pydanticBool(body[key]);
  if (v === 'invalid') throw bad(`${key} must be a boolean`, key);
  return v ?? dflt;
}

/**
 * vLLM's `stop` (a string or a list of strings, none empty: SamplingParams rejects "") as a list.
 * Throws a 400 naming `stop` for any other type.
 */
function stopStrings(body: Record<string, unknown>): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw bad('stop must be a string or a list of strings', 'stop');
  if (list.some((x) => x === '')) throw bad('stop cannot contain an empty string.', 'stop');
  return list as string[];
}

/** vLLM's `stop_token_ids` (list[int], each read as pydanticInt reads one): non-negative token ids, or a 400 naming the field. */
function stopTokenIds(body: Record<string, unknown>): number[] {
  const v = body.stop_token_ids;
  if (v === undefined || v === null) return [];
  const ids = Array.isArray(v) ? v.map(pydanticInt) : null;
  if (!ids || !ids.every((x): x is number => typeof x === 'number' && x >= 0)) throw bad('stop_token_ids must be a list of token ids (integers >= 0)', 'stop_token_ids');
  return ids;
}

function checkMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw bad('messages must be a non-empty array', 'messages');
  for (const [i, m] of messages.entries()) {
    if (!m || typeof m !== 'object' || typeof (m as ChatMessage).role !== 'string') {
      throw bad(`messages[${i}] must be an object with a string role`, 'messages');
    }
    const c: unknown = (m as ChatMessage).content;
    // As the OpenAI API: a string, null/absent (an assistant turn with tool calls), or content parts.
    if (!(c === undefined || c === null || typeof c === 'string' || Array.isArray(c))) {
      throw bad(`messages[${i}].content must be a string or an array of content parts`, 'messages');
    }
    if (Array.isArray(c)) for (const [j, p] of c.entries()) checkContentPart(p, `messages[${i}].content[${j}]`);
    // vLLM's message types (ChatCompletionMessageParam): `name` is a string, `tool_calls` a list.
    const { name, tool_calls: calls } = m as { name?: unknown; tool_calls?: unknown };
    if (name !== undefined && name !== null && typeof name !== 'string') throw bad(`messages[${i}].name must be a string`, 'messages');
    if (calls !== undefined && calls !== null && !Array.isArray(calls)) throw bad(`messages[${i}].tool_calls must be a list`, 'messages');
  }
  return messages as ChatMessage[];
}

/** Token strings are needed only for logprobs and echo: split the text on first use, not per request. */
class TextPrompt implements PromptInput {
  private split: string[] | undefined | null = null;
  constructor(
    readonly tokenIds: number[],
    readonly text: string,
    readonly echoText: string,
    private readonly tokenizer: Tokenizer,
  ) {}

  get pieces(): string[] | undefined {
    if (this.split === null) this.split = this.tokenizer.splitPieces?.(this.text);
    return this.split;
  }
}

function withLazyPieces(p: Omit<PromptInput, 'pieces'>, tokenizer: Tokenizer): PromptInput {
  return new TextPrompt(p.tokenIds, p.text, p.echoText, tokenizer);
}

const isTokenList = (v: unknown): v is number[] => Array.isArray(v) && v.every((t) => Number.isInteger(t) && (t as number) >= 0);

/**
 * The prompts of a completions request: a string, a list of strings, a list of token ids, or a
 * list of token-id lists (the OpenAI / vLLM wire forms); each list element is its own prompt.
 */
function completionPrompts(raw: unknown, tokenizer: Tokenizer): PromptInput[] {
  if (raw === undefined || raw === null || raw === '' || (Array.isArray(raw) && raw.length === 0)) {
    throw bad('Either prompt or prompt_embeds must be provided and non-empty.', 'prompt');
  }
  const fromText = (text: string): PromptInput => withLazyPieces({ tokenIds: tokenizer.encode(text), text, echoText: text }, tokenizer);
  const vocab = tokenizer.vocabSize ?? DEFAULT_VOCAB_SIZE;
  const fromIds = (ids: number[]): PromptInput => {
    // vLLM's input processor: a token-id prompt's largest id must be in the vocabulary.
    let max = 0;
    for (const id of ids) if (id > max) max = id;
    if (max >= vocab) throw bad(`Token id ${max} is out of vocabulary`, 'prompt');
    const text = tokenizer.decode(ids);
    return { tokenIds: ids, text, echoText: text };
  };
  let out: PromptInput[];
  if (typeof raw === 'string') out = [fromText(raw)];
  else if (isTokenList(raw)) out = [fromIds(raw)];
  else if (Array.isArray(raw) && raw.every((p) => typeof p === 'string')) out = (raw as string[]).map(fromText);
  else if (Array.isArray(raw) && raw.every(isTokenList)) out = (raw as number[][]).map(fromIds);
  else throw bad('prompt must be a string, a list of strings, a list of token ids or a list of token-id lists', 'prompt');
  for (const [i, p] of out.entries()) {
    if (p.tokenIds.length === 0) throw bad(out.length > 1 ? `prompt[${i}] must not be empty` : 'prompt must not be empty', 'prompt');
  }
  return out;
}

function checkResponseFormat(rf: unknown): void {
  if (rf === undefined || rf === null) return;
  if (typeof rf !== 'object' || Array.isArray(rf)) throw bad('response_format must be an object', 'response_format');
  const { type, json_schema: schema } = rf as { type?: unknown; json_schema?: unknown };
  if (!['text', 'json_object', 'json_schema', 'structural_tag'].includes(type as string)) {
    throw bad("response_format.type must be one of 'text', 'json_object', 'json_schema', 'structural_tag'", 'response_format');
  }
  if (type !== 'json_schema') return;
  // vLLM's protocol needs the json_schema object (with a name) for type json_schema; without it
  // vLLM answers 400 since PR #35456 (before that, an assertion gave a 500).
  if (!schema || typeof schema !== 'object' || Array.isArray(schema)) {
    throw bad("response_format.json_schema is required when response_format.type is 'json_schema'", 'response_format');
  }
  if (typeof (schema as { name?: unknown }).name !== 'string') throw bad('response_format.json_schema.name is required', 'response_format');
}

/**
 * vLLM's logprob-count rule: non-negative (or −1 = the whole vocabulary where allowed) and at
 * most `--max-logprobs` (SamplingParams._validate_logprobs).
 */
function checkLogprobCount(n: number, kind: 'sample' | 'prompt', param: string, limits: ParseLimits, tokenizer: Tokenizer): void {
  const requested = n === -1 ? tokenizer.vocabSize ?? DEFAULT_VOCAB_SIZE : n;
  if (requested > limits.maxLogprobs) {
    throw vllmValidation(`Requested ${kind} logprobs of ${requested}, which is greater than max allowed: ${limits.maxLogprobs}`, param, requested);
  }
}

/**
 * A float field read as vLLM's pydantic models read it (lax: `"0.5"`, `" 1e-3 "`, `true`; see
 * pydanticFloat), or a 400 naming it. Infinity and NaN (`"inf"`, `"nan"`, `1e400`), which pydantic
 * lets through, are refused here too: vLLM's own range checks (SamplingParams._verify_args) refuse
 * them for top_p, min_p and the presence / frequency penalties, and a NaN or infinite temperature or
 * repetition penalty, which they let through, has no meaning for sampling.
 */
function optionalNumber(body: Record<string, unknown>, key: string): number | null {
  const v = pydanticFloat(body[key]);
  if (v === undefined) return null;
  if (v === 'invalid') throw bad(`${key} must be a number`, key);
  if (!Number.isFinite(v)) throw bad(`${key} must be a finite number`, key);
  return v;
}

/**
 * The sampling parameters' types and ranges, as vLLM checks them (the protocol's float fields,
 * then SamplingParams._verify_args, with its messages); a request breaking one is a 400.
 */
function checkSamplingParams(body: Record<string, unknown>): void {
  const temperature = optionalNumber(body, 'temperature');
  if (temperature !== null && temperature < 0) throw bad(`temperature must be non-negative, got ${temperature}.`, 'temperature');
  const topP = optionalNumber(body, 'top_p');
  if (topP !== null && !(topP > 0 && topP <= 1)) throw bad(`top_p must be in (0, 1], got ${topP}.`, 'top_p');
  const minP = optionalNumber(body, 'min_p');
  if (minP !== null && !(minP >= 0 && minP <= 1)) throw bad(`min_p must be in [0, 1], got ${minP}.`, 'min_p');
  for (const key of ['presence_penalty', 'frequency_penalty']) {
    const v = optionalNumber(body, key);
    if (v !== null && !(v >= -2 && v <= 2)) throw bad(`${key} must be in [-2, 2], got ${v}.`, key);
  }
  const rep = optionalNumber(body, 'repetition_penalty');
  if (rep !== null && !(rep > 0)) throw bad(`repetition_penalty must be greater than zero, got ${rep}.`, 'repetition_penalty');
  // vLLM: -1 and 0 both disable top-k; anything below is an error.
  const topK = optionalInt(body, 'top_k');
  if (topK !== null && topK < -1) throw bad(`top_k must be -1 or 0 (disable), or at least 1, got ${topK}.`, 'top_k');
  const minTokens = optionalInt(body, 'min_tokens');
  if (minTokens !== null && minTokens < 0) throw bad(`min_tokens must be greater than or equal to 0, got ${minTokens}.`, 'min_tokens');
  const truncate = optionalInt(body, 'truncate_prompt_tokens');
  if (truncate !== null && truncate < -1) throw bad(`truncate_prompt_tokens must be -1 or greater, got ${truncate}.`, 'truncate_prompt_tokens');
  checkLogitBias(body.logit_bias);
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') throw bad('user must be a string', 'user');
}

/** vLLM's `logit_bias`: an object from token ids (integers written as strings) to numbers; 400 naming the field otherwise. */
function checkLogitBias(v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('logit_bias must be an object from token ids to numbers', 'logit_bias');
  for (const [k, bias] of Object.entries(v)) {
    if (!/^\d+$/.test(k)) throw bad(`logit_bias: token id "${k}" must be an integer`, 'logit_bias');
    const n = pydanticFloat(bias); // dict[str, float]: values as lax as any float field
    if (typeof n !== 'number' || !Number.isFinite(n)) throw bad(`logit_bias["${k}"] must be a number`, 'logit_bias');
  }
}

/** Parses and validates a completions or chat body as vLLM's protocol does (messages and codes as vLLM's). */
export function parseCompletionRequest(
  kind: 'completions' | 'chat',
  body: Record<string, unknown>,
  tokenizer: Tokenizer,
  limits: ParseLimits = DEFAULT_PARSE_LIMITS,
): CompletionRequest {
  const model = body.model;
  // vLLM's protocol types model as a string: any other JSON type fails its validation (400).
  if (model !== undefined && model !== null && typeof model !== 'string') throw bad('model must be a string', 'model');
  if (typeof model !== 'string' || model.length === 0) {
    throw new KvgateError(ErrorCode.MissingModel, "Invalid request: missing required parameter 'model'.", { param: 'model' });
  }
  const stream = optionalBool(body, 'stream');
  checkSamplingParams(body);

  // Validators vLLM runs before building the request (protocol.py model_validator(mode="before")).
  if (pythonTruthy(body.stream_options) && !pythonTruthy(body.stream)) throw vllmValidation('Stream options can only be defined when `stream=True`.', 'stream_options');
  const promptLogprobsRaw = optionalInt(body, 'prompt_logprobs');
  if (promptLogprobsRaw !== null) {
    if (pythonTruthy(body.stream) && (promptLogprobsRaw > 0 || promptLogprobsRaw === -1)) throw vllmValidation('`prompt_logprobs` are not available when `stream=True`.', 'prompt_logprobs');
    if (promptLogprobsRaw < 0 && promptLogprobsRaw !== -1) throw vllmValidation('`prompt_logprobs` must be a positive value or -1.', 'prompt_logprobs', promptLogprobsRaw);
  }
  let logprobs: number | null;
  if (kind === 'completions') {
    logprobs = optionalInt(body, 'logprobs');
    if (logprobs !== null && logprobs < 0) throw vllmValidation('`logprobs` must be a positive value.', 'logprobs', logprobs);
  } else {
    const wants = optionalBool(body, 'logprobs');
    const top = optionalInt(body, 'top_logprobs');
    if (top !== null) {
      if (top < 0 && top !== -1) throw vllmValidation('`top_logprobs` must be a positive value or -1.', 'top_logprobs', top);
      if ((top === -1 || top > 0) && !wants) throw vllmValidation('when using `top_logprobs`, `logprobs` must be set to true.', 'top_logprobs');
    }
    logprobs = wants ? top ?? 0 : null;
  }
  if (logprobs !== null) checkLogprobCount(logprobs, 'sample', 'logprobs', limits, tokenizer);
  const cacheSalt = body.cache_salt;
  if (cacheSalt !== undefined && cacheSalt !== null && (typeof cacheSalt !== 'string' || cacheSalt === '')) {
    throw bad("Parameter 'cache_salt' must be a non-empty string if provided.", 'cache_salt');
  }
  const addGenerationPrompt = optionalBool(body, 'add_generation_prompt', true);
  const continueFinalMessage = optionalBool(body, 'continue_final_message');
  // A "before" validator: both raw values truthy (an absent add_generation_prompt is None there).
  if (kind === 'chat' && pythonTruthy(body.continue_final_message) && pythonTruthy(body.add_generation_prompt)) {
    throw bad('Cannot set both `continue_final_message` and `add_generation_prompt` to True.', 'continue_final_message');
  }
  checkResponseFormat(body.response_format);
  if (kind === 'chat') checkToolFields(body);

  const echo = optionalBool(body, 'echo');
  let prompts: PromptInput[];
  let chatEchoText: string | null = null;
  if (kind === 'chat') {
    const msgs = checkMessages(body.messages);
    // The simulator's tokenizers all render ChatML; the vLLM switches cut that rendering short.
    const defaultTemplate = addGenerationPrompt && !continueFinalMessage;
    const rendered = defaultTemplate ? tokenizer.renderChat(msgs, { tools: body.tools }) : renderChatML(msgs, { addGenerationPrompt: false, continueFinalMessage, tools: body.tools });
    const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
    prompts = [withLazyPieces({ tokenIds: tokenizer.encode(rendered), text: rendered, echoText: messageText(lastUser?.content ?? msgs[msgs.length - 1].content) }, tokenizer)];
    // vLLM's chat echo: the answer starts with the last message's text when that message has the
    // answer's role (assistant under add_generation_prompt, else the last message's own role).
    const last = msgs[msgs.length - 1];
    const role = addGenerationPrompt && !continueFinalMessage ? 'assistant' : last.role;
    const lastText = messageText(last.content);
    if (echo && lastText && last.role === role) chatEchoText = lastText;
  } else {
    prompts = completionPrompts(body.prompt, tokenizer);
  }

  const n = optionalInt(body, 'n') ?? 1;
  if (n < 1) throw bad(`n must be at least 1, got ${n}.`, 'n');
  if (n * prompts.length > limits.maxChoices) throw bad(`n × prompts is ${n * prompts.length}; this server returns at most ${limits.maxChoices} choices per request`, 'n');

  const mct = optionalInt(body, 'max_completion_tokens');
  const mt = optionalInt(body, 'max_tokens');
  const maxTokensParam = mct !== null ? 'max_completion_tokens' : 'max_tokens';
  let maxTokens = mct ?? mt;
  // vLLM lets a completions request echo its prompt without generating (echo with max_tokens 0).
  const echoOnly = kind === 'completions' && echo && maxTokens === 0;
  if (maxTokens !== null && maxTokens < 1 && !echoOnly) throw bad(`max_tokens must be at least 1, got ${maxTokens}.`, maxTokensParam);
  if (echoOnly) maxTokens = 0;
  const minTokens = optionalInt(body, 'min_tokens');
  if (minTokens !== null && maxTokens !== null && minTokens > maxTokens && !echoOnly) {
    throw bad(`min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${minTokens}.`, 'min_tokens');
  }
  // vLLM's completions server refuses `suffix` (serving_completion.py).
  if (kind === 'completions' && body.suffix !== undefined && body.suffix !== null) throw bad('suffix is not currently supported', 'suffix');

  let promptLogprobs = promptLogprobsRaw;
  if (promptLogprobs === null && kind === 'completions' && echo && logprobs !== null) promptLogprobs = logprobs; // vLLM: echo implies prompt logprobs
  if (promptLogprobs !== null && promptLogprobs !== 0) checkLogprobCount(promptLogprobs, 'prompt', 'prompt_logprobs', limits, tokenizer);

  const so = body.stream_options;
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw bad('stream_options must be an object', 'stream_options');
  const streamOptions = (so ?? undefined) as Record<string, unknown> | undefined;
  // vLLM's StreamOptions (include_usage: bool | None = True, continuous_usage_stats: bool | None =
  // False), read leniently as pydantic does (`"include_usage": "yes"` asks for usage): present
  // stream_options default include_usage to true when the field is absent; null or false is off;
  // continuous usage needs both. A value pydantic cannot read as a bool is a 400, as in vLLM.
  const streamOption = (key: 'include_usage' | 'continuous_usage_stats'): boolean | undefined => {
    if (!streamOptions || !Object.hasOwn(streamOptions, key)) return undefined;
    const v = pydanticBool(streamOptions[key]);
    if (v === 'invalid') throw bad(`stream_options.${key} must be a boolean`, 'stream_options');
    return v ?? false; // an explicit null is None: off
  };
  const includeUsage = streamOptions ? streamOption('include_usage') ?? true : false;
  const continuousUsage = streamOption('continuous_usage_stats') === true && includeUsage;

  const seedRaw = optionalInt(body, 'seed');
  checkSeedRange(seedRaw);
  const seed = seedRaw ?? undefined;
  const cht = body.cache_hit_threshold;
  let cacheHitThreshold: number | null = null;
  if (cht !== undefined && cht !== null) {
    if (typeof cht !== 'number' || !(cht >= 0 && cht <= 1)) throw bad('cache_hit_threshold must be a number in [0, 1]', 'cache_hit_threshold');
    cacheHitThreshold = cht;
  }
  const ktp = body.kv_transfer_params;
  if (ktp !== undefined && ktp !== null && (typeof ktp !== 'object' || Array.isArray(ktp))) throw bad('kv_transfer_params must be an object', 'kv_transfer_params');
  const kvTransferParams = (ktp ?? null) as KvTransferParams | null;
  if (kvTransferParams?.do_remote_decode === true && stream) throw bad('Prefill does not support streaming', 'stream'); // llm-d-inference-sim's rule
  const requestId = typeof body.request_id === 'string' && body.request_id ? body.request_id : undefined;

  return {
    kind,
    model,
    prompts,
    n,
    maxTokens,
    maxTokensParam,
    ignoreEos: optionalBool(body, 'ignore_eos'),
    stop: stopStrings(body),
    stopTokenIds: stopTokenIds(body),
    includeStopStrInOutput: optionalBool(body, 'include_stop_str_in_output'),
    minTokens: minTokens ?? 0,
    stream,
    includeUsage,
    continuousUsage,
    cacheSalt: (cacheSalt ?? undefined) as string | undefined,
    seed,
    echo,
    chatEchoText,
    logprobs,
    promptLogprobs,
    cacheHitThreshold,
    kvTransferParams,
    requestId,
  };
}
