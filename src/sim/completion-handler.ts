import type { ServerResponse } from 'node:http';
import { contextLengthError } from '../shared/context-length.js';
import type { SimEngine } from '../engine/index.js';
import type { RequestListener, RequestOutcome, Tokenizer } from '../engine/types.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { sendJson } from '../shared/http.js';
import type { CompletionRequest, PromptInput } from './completion-request.js';
import type { SimMetrics } from './metrics.js';
import { StopCheck } from './stop-check.js';
import {
  appendCompletionLogprobs,
  chatLogprobContent,
  emptyCompletionLogprobs,
  promptLogprobsJson,
  type CompletionLogprobs,
  type LogprobSource,
  type PositionLogprobs,
} from './logprobs.js';

/** What serving a completion needs from the server. */
export interface CompletionDeps {
  engine: SimEngine;
  tokenizer: Tokenizer;
  metrics: SimMetrics;
  logprobSource: LogprobSource;
  mode: 'random' | 'echo';
  /** Output ids random mode cycles through when the tokenizer is a real one (null = let the engine sample). */
  fillerIds: number[] | null;
  maxModelLen: number;
  /** Time to pull a `promptTokens`-token prompt's KV from a prefill instance (P/D decode side). */
  transferMs(promptTokens: number): number;
  /** Identity a prefill answer names in its kv_transfer_params. */
  kvOrigin: { engineId: string; host: string; port: number };
  /** `--global-cache-hit-threshold` (0 = off). */
  globalCacheHitThreshold: number;
  /** Responses still open (closed on shutdown). */
  inflight: Set<ServerResponse>;
  /** A fresh engine-internal request id. */
  nextEngineId(): string;
}

/** One request as the server resolved it. */
export interface CompletionCall {
  cr: CompletionRequest;
  /** `model` of the answer: the first served name, or the adapter's name (as vLLM answers). */
  responseModel: string;
  lora?: { name: string; id: number };
  /** Response id (`cmpl-…` / `chatcmpl-…`). */
  id: string;
  /** X-Cache-Threshold-Finish-Reason: true. */
  forceCacheThreshold: boolean;
  /** Extra response headers (x-inference-port, x-inference-pod, x-request-id, …). */
  headers: Record<string, string>;
}

/** Context-window check of one prompt, with vLLM's messages; returns the tokens it may generate. */
function tokensAllowed(cr: CompletionRequest, p: PromptInput, maxModelLen: number): number {
  const n = p.tokenIds.length;
  const tooLong = contextLengthError(maxModelLen, n, cr.maxTokens);
  if (tooLong) throw new KvgateError(ErrorCode.ContextLengthExceeded, tooLong.message, { param: tooLong.field === 'prompt' ? (cr.kind === 'chat' ? 'messages' : 'prompt') : cr.maxTokensParam });
  // Without max_tokens: completions default to 16 (OpenAI); chat "stops" after a natural 128-token answer.
  if (cr.maxTokens === 0) return 1; // echo without generation: vLLM runs one step and shows only the prompt
  return Math.min(cr.maxTokens ?? (cr.kind === 'chat' ? 128 : 16), maxModelLen - n);
}

/** One choice: an engine request, its tokens, and the listener the engine calls. */
class Choice implements RequestListener {
  tokens: number[] = [];
  texts: string[] = [];
  /** Tokens generated so far. */
  generated = 0;
  finishReason: string | null = null;
  outcome?: RequestOutcome;
  engineId?: string;
  echoPieces?: string[];
  lastTokenMs = 0;
  /** Characters already streamed (completions text_offset base). */
  streamedChars = 0;
  streamedAny = false;
  /** The request's stop strings / stop token ids applied to this choice's text (absent without them). */
  readonly stop?: StopCheck;

  constructor(
    private readonly run: CompletionRun,
    readonly index: number,
    readonly promptIdx: number,
    readonly prompt: PromptInput,
    /** Tokens the engine may generate. */
    readonly target: number,
    cr: CompletionRequest,
  ) {
    if (cr.stop.length > 0 || cr.stopTokenIds.length > 0) this.stop = new StopCheck(cr.stop, new Set(cr.stopTokenIds), cr.includeStopStrInOutput, cr.minTokens);
  }

  onToken(id: number, idx: number, nowMs: number, finish?: string): 'stop' | undefined {
    return this.run.onToken(this, id, idx, nowMs, finish);
  }

  onFinish(o: RequestOutcome): void {
    this.run.onFinish(this, o);
  }
}

/**
 * Serves a validated completions or chat request: n choices per prompt, each an engine request;
 * non-streamed answers wait for all of them, streams send one chunk per token as vLLM does (the
 * finish reason rides on the last token's chunk; the usage chunk, if asked, comes last).
 * Throws (before any byte is written) on context-length and capacity errors.
 */
export function serveCompletion(deps: CompletionDeps, res: ServerResponse, call: CompletionCall): void {
  new CompletionRun(deps, res, call).start();
}

/** The state of one request while its choices run (a class, so a request allocates no closures). */
class CompletionRun {
  private readonly cr: CompletionRequest;
  private readonly chat: boolean;
  private readonly echoOnly: boolean;
  private readonly naturalStop: boolean;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly chunkObject: string;
  /** A stream forgets each token once written; ids are kept for a whole answer, strings for logprobs. */
  private readonly keepTexts: boolean;
  private readonly keepTokens: boolean;
  private readonly choices: Choice[] = [];
  private readonly parentLeft: number[];
  private remaining = 0;
  private closed = false;
  /** A chat stream's role chunks (and echo) are out. */
  private opened = false;

  constructor(
    private readonly deps: CompletionDeps,
    private readonly res: ServerResponse,
    private readonly call: CompletionCall,
  ) {
    const cr = (this.cr = call.cr);
    this.chat = cr.kind === 'chat';
    this.echoOnly = cr.kind === 'completions' && cr.echo && cr.maxTokens === 0;
    this.naturalStop = this.chat && cr.maxTokens === null;
    this.chunkObject = this.chat ? 'chat.completion.chunk' : 'text_completion';
    this.keepTexts = cr.logprobs !== null;
    this.keepTokens = !cr.stream || this.keepTexts;
    this.parentLeft = cr.prompts.map(() => cr.n);
  }

  start(): void {
    const { cr, call, deps } = this;
    const threshold = cr.cacheHitThreshold ?? (deps.globalCacheHitThreshold > 0 ? deps.globalCacheHitThreshold : null);
    const below: boolean[] = [];
    for (const [pi, p] of cr.prompts.entries()) {
      const target = tokensAllowed(cr, p, deps.maxModelLen);
      below.push(call.forceCacheThreshold || (threshold !== null && deps.engine.cachedPrefixTokens(p.tokenIds, { loraName: call.lora?.name, cacheSalt: cr.cacheSalt }) / p.tokenIds.length < threshold));
      for (let j = 0; j < cr.n; j++) this.choices.push(new Choice(this, pi * cr.n + j, pi, p, target, cr));
    }
    this.remaining = this.choices.length;
    this.submitAll(below);

    const res = this.res;
    deps.inflight.add(res);
    res.on('close', () => this.onClose());
    if (cr.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...call.headers });
      // vLLM's StreamingResponse sends the headers at once; the first chunk waits for the first token (openChat).
      if (this.chat) res.flushHeaders();
    }
    // Answered at once, without running: llm-d-inference-sim's cache_threshold finish reason.
    for (const c of this.choices) {
      if (!below[c.promptIdx]) continue;
      c.finishReason = 'cache_threshold';
      deps.metrics.observeCacheThreshold();
      if (cr.stream) {
        this.openChat();
        this.writeChunk(this.chat ? { index: c.index, delta: {}, logprobs: null, finish_reason: 'cache_threshold' } : { index: c.index, text: '', logprobs: null, finish_reason: 'cache_threshold', stop_reason: null }, c, 0);
      }
      this.done();
    }
    if (this.remaining === 0) this.finishResponse();
  }

  /** Submits every choice first, so a refusal (e.g. too big for the KV cache) is still an error response. */
  private submitAll(below: boolean[]): void {
    const { cr, call, deps } = this;
    const { engine, tokenizer } = deps;
    const ktp = cr.kvTransferParams;
    const submitted: string[] = [];
    try {
      for (const c of this.choices) {
        if (below[c.promptIdx]) continue;
        let outputTokenIds: number[] | undefined;
        if (deps.mode === 'echo') {
          outputTokenIds = tokenizer.encode(c.prompt.echoText);
          c.echoPieces = tokenizer.splitPieces?.(c.prompt.echoText);
        } else if (deps.fillerIds) {
          const f = deps.fillerIds;
          outputTokenIds = Array.from({ length: c.target }, (_, i) => f[i % f.length]);
        }
        c.engineId = deps.nextEngineId();
        engine.submit(
          {
            id: c.engineId,
            promptTokenIds: c.prompt.tokenIds,
            maxTokens: c.target,
            ignoreEos: cr.ignoreEos,
            cacheSalt: cr.cacheSalt,
            loraName: call.lora?.name,
            loraId: call.lora?.id,
            seed: cr.seed === undefined ? undefined : cr.seed + (c.index % cr.n), // vLLM seeds parallel-sampling children seed + index
            outputTokenIds,
            skipPrefixCache: cr.promptLogprobs !== null,
            remotePrefill: ktp?.do_remote_prefill === true ? { transferMs: deps.transferMs(c.prompt.tokenIds.length) } : undefined,
            keepBlockIds: ktp?.do_remote_decode === true && c.index === 0,
          },
          c,
        );
        submitted.push(c.engineId);
      }
    } catch (err) {
      for (const id of submitted) engine.abort(id);
      throw err;
    }
  }

  private onClose(): void {
    this.deps.inflight.delete(this.res);
    if (this.closed) return;
    this.closed = true;
    for (const c of this.choices) if (c.engineId && c.finishReason === null) this.deps.engine.abort(c.engineId);
  }

  private done(): void {
    if (--this.remaining === 0) this.finishResponse();
  }

  private finishReasonOf(reason: string): string {
    return this.naturalStop && reason === 'length' ? 'stop' : reason;
  }

  private tokenText(c: Choice, idx: number, id: number): string {
    return c.echoPieces?.[idx] ?? this.deps.tokenizer.decode([id]);
  }

  private genLogprobs(c: Choice, idx: number, k: number): PositionLogprobs {
    const ids = c.prompt.tokenIds;
    const prev = idx === 0 ? ids[ids.length - 1] : c.tokens[idx - 1];
    return this.deps.logprobSource.generated(c.tokens[idx], c.texts[idx], ids.length + idx, prev, k);
  }

  private promptPieces(p: PromptInput): string[] {
    return p.pieces ?? p.tokenIds.map((id) => this.deps.tokenizer.decode([id]));
  }

  private promptPositions(p: PromptInput, k: number): (PositionLogprobs | null)[] {
    const pieces = this.promptPieces(p);
    return p.tokenIds.map((id, i) => (i === 0 ? null : this.deps.logprobSource.prompt(id, pieces[i] ?? '', i, p.tokenIds[i - 1], k)));
  }

  /** The prompt's tokens as completions logprob entries (the first without a logprob, as vLLM). */
  private promptEntries(p: PromptInput, k: number): { text: string; pos: PositionLogprobs | null }[] {
    const pieces = this.promptPieces(p);
    const positions = this.promptPositions(p, k);
    return pieces.map((text, i) => ({ text, pos: positions[i] }));
  }

  /**
   * A chat stream's first chunks: a role chunk (`delta: {role: "assistant", content: ""}`) per
   * choice, then the echoed last message. vLLM's serving_chat.py sends them in the first iteration
   * over the engine's outputs — when the first output arrives, i.e. with the first token after
   * prefill, in the same iteration as that token's chunk — not when the request is accepted; sent
   * earlier, a gateway timing the first byte would read a time to first token of ~0.
   */
  private openChat(): void {
    if (this.opened || !this.chat || !this.cr.stream) return;
    this.opened = true;
    for (const c of this.choices) {
      this.writeChunk({ index: c.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }, c, 0);
      if (this.cr.chatEchoText) this.writeChunk({ index: c.index, delta: { content: this.cr.chatEchoText }, logprobs: null, finish_reason: null }, c, 0);
    }
  }

  private writeChunk(choice: Record<string, unknown>, c: Choice, completionTokens: number): void {
    if (this.closed) return;
    const chunk: Record<string, unknown> = { id: this.call.id, object: this.chunkObject, created: this.created, model: this.call.responseModel, choices: [choice] };
    if (this.cr.continuousUsage) {
      const p = c.prompt.tokenIds.length;
      chunk.usage = { prompt_tokens: p, completion_tokens: completionTokens, total_tokens: p + completionTokens };
    }
    this.res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  /** One generated token: streams it (held back while it may begin a stop string); 'stop' ends the choice here. */
  onToken(c: Choice, id: number, idx: number, nowMs: number, finish: string | undefined): 'stop' | undefined {
    const { cr } = this;
    if (idx > 0) this.deps.metrics.observeInterToken(nowMs - c.lastTokenMs);
    c.lastTokenMs = nowMs;
    c.generated = idx + 1;
    if (this.keepTokens) c.tokens.push(id);
    if (!cr.stream && !this.keepTexts && !c.stop) return undefined;
    const tokenStr = this.tokenText(c, idx, id);
    if (this.keepTexts) c.texts.push(tokenStr);
    let piece = tokenStr;
    let stopped = false;
    if (c.stop) ({ release: piece, stop: stopped } = c.stop.push(id, tokenStr, finish !== undefined));
    const result = stopped ? 'stop' : undefined;
    if (!cr.stream || this.closed) return result;
    const finishReason = stopped ? 'stop' : finish ? this.finishReasonOf(finish) : null;
    if (this.chat) {
      this.openChat();
      const logprobs = cr.logprobs !== null ? { content: [chatLogprobContent(tokenStr, this.genLogprobs(c, idx, cr.logprobs), cr.logprobs)] } : null;
      const choice: Record<string, unknown> = { index: c.index, delta: { content: piece }, logprobs, finish_reason: finishReason };
      if (stopped) choice.stop_reason = c.stop?.stopReason ?? null;
      this.writeChunk(choice, c, c.generated);
      return result;
    }
    // Completions: under echo the first chunk carries the prompt ahead of the first token.
    let entries: { text: string; pos: PositionLogprobs | null }[] = [];
    let text = '';
    if (cr.echo && !c.streamedAny) {
      text = c.prompt.text;
      if (cr.logprobs !== null) entries = this.promptEntries(c.prompt, cr.logprobs);
    }
    if (!this.echoOnly) {
      text += piece;
      if (cr.logprobs !== null) entries.push({ text: tokenStr, pos: this.genLogprobs(c, idx, cr.logprobs) });
    }
    let logprobs: CompletionLogprobs | null = null;
    if (cr.logprobs !== null) {
      logprobs = emptyCompletionLogprobs();
      appendCompletionLogprobs(logprobs, entries, c.streamedChars);
    }
    c.streamedAny = true;
    c.streamedChars += text.length;
    this.writeChunk({ index: c.index, text, logprobs, finish_reason: finishReason, stop_reason: c.stop?.stopReason ?? null }, c, c.generated);
    return result;
  }

  onFinish(c: Choice, o: RequestOutcome): void {
    const { cr, deps } = this;
    c.outcome = o;
    c.finishReason = this.finishReasonOf(o.finishReason);
    const p = c.prompt.tokenIds.length;
    deps.metrics.observeFinished(o, cr.maxTokens ?? (this.chat ? deps.maxModelLen - p : 16), c.finishReason);
    if (--this.parentLeft[c.promptIdx] === 0) {
      let longest = 0;
      for (const x of this.choices) if (x.promptIdx === c.promptIdx) longest = Math.max(longest, x.outcome?.completionTokens ?? 0);
      deps.metrics.observeParentFinished(cr.n, longest);
    }
    this.done();
  }

  /** The answer's text: echo pieces for echoed tokens, decoded ids for the rest. */
  private fullText(c: Choice): string {
    if (c.stop) return c.stop.output;
    if (this.keepTexts) return c.texts.join('');
    if (!c.echoPieces) return this.deps.tokenizer.decode(c.tokens);
    const n = Math.min(c.tokens.length, c.echoPieces.length);
    return c.echoPieces.slice(0, n).join('') + (c.tokens.length > n ? this.deps.tokenizer.decode(c.tokens.slice(n)) : '');
  }

  private usage() {
    let prompt = 0;
    let cached = 0;
    let completion = 0;
    for (const [pi, p] of this.cr.prompts.entries()) {
      prompt += p.tokenIds.length;
      cached += this.choices.find((c) => c.promptIdx === pi)?.outcome?.cachedTokens ?? 0;
    }
    for (const c of this.choices) completion += c.outcome?.completionTokens ?? 0;
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
  }

  /** What vLLM's NixlConnector hands back after a prefill: where the decode side pulls the blocks from. */
  private kvTransferParams(): Record<string, unknown> | null {
    if (this.cr.kvTransferParams?.do_remote_decode !== true) return null;
    const origin = this.deps.kvOrigin;
    return {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_block_ids: this.choices[0]?.outcome?.blockIds ?? [],
      remote_engine_id: origin.engineId,
      remote_host: origin.host,
      remote_port: origin.port,
      tp_size: 1,
    };
  }

  private finishResponse(): void {
    if (this.closed) return;
    this.openChat(); // a stream whose choices all ended without a token still opens with its role chunks
    this.closed = true;
    const { cr, call, res, chat } = this;
    this.deps.inflight.delete(res);
    if (cr.stream) {
      if (cr.includeUsage) res.write(`data: ${JSON.stringify({ id: call.id, object: this.chunkObject, created: this.created, model: call.responseModel, choices: [], usage: this.usage() })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    const k = cr.logprobs;
    const out = this.choices.map((c) => {
      const text = this.echoOnly ? '' : this.fullText(c);
      if (chat) {
        const logprobs = k !== null ? { content: c.tokens.map((_, i) => chatLogprobContent(c.texts[i], this.genLogprobs(c, i, k), k)) } : null;
        return { index: c.index, message: { role: 'assistant', content: (cr.chatEchoText ?? '') + text, tool_calls: [] }, logprobs, finish_reason: c.finishReason, stop_reason: c.stop?.stopReason ?? null };
      }
      let logprobs: CompletionLogprobs | null = null;
      if (k !== null) {
        logprobs = emptyCompletionLogprobs();
        const entries = cr.echo ? this.promptEntries(c.prompt, k) : [];
        if (!this.echoOnly) for (let i = 0; i < c.tokens.length; i++) entries.push({ text: c.texts[i], pos: this.genLogprobs(c, i, k) });
        appendCompletionLogprobs(logprobs, entries, 0);
      }
      const promptLogprobs = cr.promptLogprobs !== null ? promptLogprobsJson(this.promptPositions(c.prompt, cr.promptLogprobs)) : null;
      return { index: c.index, text: (cr.echo ? c.prompt.text : '') + text, logprobs, finish_reason: c.finishReason, stop_reason: c.stop?.stopReason ?? null, prompt_logprobs: promptLogprobs };
    });
    const body: Record<string, unknown> = { id: call.id, object: chat ? 'chat.completion' : 'text_completion', created: this.created, model: call.responseModel, choices: out, usage: this.usage() };
    if (chat && cr.promptLogprobs !== null) body.prompt_logprobs = promptLogprobsJson(this.promptPositions(cr.prompts[0], cr.promptLogprobs));
    const ktp = this.kvTransferParams();
    if (ktp) body.kv_transfer_params = ktp;
    sendJson(res, 200, body, call.headers);
  }
}
