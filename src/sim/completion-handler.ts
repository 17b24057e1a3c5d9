import type { ServerResponse } from 'node:http';
import type { SimEngine } from '../engine/index.js';
import type { RequestOutcome, Tokenizer } from '../engine/types.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { sendJson } from '../shared/http.js';
import type { CompletionRequest, PromptInput } from './completion-request.js';
import type { SimMetrics } from './metrics.js';
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

interface Choice {
  index: number;
  promptIdx: number;
  prompt: PromptInput;
  /** Tokens the engine may generate. */
  target: number;
  echoPieces?: string[];
  tokens: number[];
  texts: string[];
  /** Tokens generated so far. */
  generated: number;
  finishReason: string | null;
  outcome?: RequestOutcome;
  engineId?: string;
  lastTokenMs: number;
  /** Characters already streamed (completions text_offset base). */
  streamedChars: number;
  streamedAny: boolean;
}

/** Context-window check of one prompt, with vLLM's messages; returns the tokens it may generate. */
function tokensAllowed(cr: CompletionRequest, p: PromptInput, maxModelLen: number): number {
  const n = p.tokenIds.length;
  if (n >= maxModelLen) {
    throw new KvgateError(
      ErrorCode.ContextLengthExceeded,
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${n} tokens in the messages, Please reduce the length of the messages.`,
      { param: cr.kind === 'chat' ? 'messages' : 'prompt' },
    );
  }
  if (cr.maxTokens !== null && n + cr.maxTokens > maxModelLen) {
    throw new KvgateError(
      ErrorCode.ContextLengthExceeded,
      `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${n + cr.maxTokens} tokens (${n} in the messages, ${cr.maxTokens} in the completion). Please reduce the length of the messages or completion.`,
      { param: cr.maxTokensParam },
    );
  }
  // Without max_tokens: completions default to 16 (OpenAI); chat "stops" after a natural 128-token answer.
  if (cr.maxTokens === 0) return 1; // echo without generation: vLLM runs one step and shows only the prompt
  return Math.min(cr.maxTokens ?? (cr.kind === 'chat' ? 128 : 16), maxModelLen - n);
}

/**
 * Serves a validated completions or chat request: n choices per prompt, each an engine request;
 * non-streamed answers wait for all of them, streams send one chunk per token as vLLM does (the
 * finish reason rides on the last token's chunk; the usage chunk, if asked, comes last).
 * Throws (before any byte is written) on context-length and capacity errors.
 */
export function serveCompletion(deps: CompletionDeps, res: ServerResponse, call: CompletionCall): void {
  const { cr } = call;
  const { engine, tokenizer, metrics } = deps;
  const chat = cr.kind === 'chat';
  const echoOnly = cr.kind === 'completions' && cr.echo && cr.maxTokens === 0;
  const naturalStop = chat && cr.maxTokens === null;
  const created = Math.floor(Date.now() / 1000);
  const object = chat ? 'chat.completion' : 'text_completion';
  const chunkObject = chat ? 'chat.completion.chunk' : 'text_completion';
  const model = call.responseModel;

  const targets = cr.prompts.map((p) => tokensAllowed(cr, p, deps.maxModelLen));
  const threshold = cr.cacheHitThreshold ?? (deps.globalCacheHitThreshold > 0 ? deps.globalCacheHitThreshold : null);
  const belowThreshold = cr.prompts.map((p) => {
    if (call.forceCacheThreshold) return true;
    if (threshold === null) return false;
    const hit = engine.cachedPrefixTokens(p.tokenIds, { loraName: call.lora?.name, cacheSalt: cr.cacheSalt });
    return hit / p.tokenIds.length < threshold;
  });

  const choices: Choice[] = [];
  for (const [pi, p] of cr.prompts.entries()) {
    for (let j = 0; j < cr.n; j++) {
      choices.push({ index: pi * cr.n + j, promptIdx: pi, prompt: p, target: targets[pi], tokens: [], texts: [], generated: 0, finishReason: null, lastTokenMs: 0, streamedChars: 0, streamedAny: false });
    }
  }
  // A stream forgets each token once written; ids are kept for a whole answer, strings for logprobs.
  const keepTexts = cr.logprobs !== null;
  const keepTokens = !cr.stream || keepTexts;
  const finishChoiceText = (c: Choice, reason: string) => (naturalStop && reason === 'length' ? 'stop' : reason);
  const tokenText = (c: Choice, idx: number, id: number) => c.echoPieces?.[idx] ?? tokenizer.decode([id]);
  const genLogprobs = (c: Choice, idx: number, k: number): PositionLogprobs => {
    const id = c.tokens[idx];
    const ids = c.prompt.tokenIds;
    const prev = idx === 0 ? ids[ids.length - 1] : c.tokens[idx - 1];
    return deps.logprobSource.generated(id, c.texts[idx], ids.length + idx, prev, k);
  };
  const promptPieces = (p: PromptInput) => p.pieces ?? p.tokenIds.map((id) => tokenizer.decode([id]));
  const promptPositions = (p: PromptInput, k: number): (PositionLogprobs | null)[] => {
    const pieces = promptPieces(p);
    return p.tokenIds.map((id, i) => (i === 0 ? null : deps.logprobSource.prompt(id, pieces[i] ?? '', i, p.tokenIds[i - 1], k)));
  };

  let remaining = choices.length;
  let closed = false;
  const parentLeft = cr.prompts.map(() => cr.n);
  const done = () => {
    remaining--;
    if (remaining === 0) finishResponse();
  };

  // ---- submit every choice first, so a refusal (e.g. too big for the KV cache) is still an error response
  const submitted: string[] = [];
  try {
    for (const c of choices) {
      if (belowThreshold[c.promptIdx]) continue;
      let outputTokenIds: number[] | undefined;
      if (deps.mode === 'echo') {
        outputTokenIds = tokenizer.encode(c.prompt.echoText);
        c.echoPieces = tokenizer.splitPieces?.(c.prompt.echoText);
      } else if (deps.fillerIds) {
        const f = deps.fillerIds;
        outputTokenIds = Array.from({ length: c.target }, (_, i) => f[i % f.length]);
      }
      const j = c.index % cr.n;
      const ktp = cr.kvTransferParams;
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
          seed: cr.seed === undefined ? undefined : cr.seed + j, // vLLM seeds parallel-sampling children seed + index
          outputTokenIds,
          skipPrefixCache: cr.promptLogprobs !== null,
          remotePrefill: ktp?.do_remote_prefill === true ? { transferMs: deps.transferMs(c.prompt.tokenIds.length) } : undefined,
          keepBlockIds: ktp?.do_remote_decode === true && c.index === 0,
        },
        {
          onToken: (id, idx, nowMs, finish) => onToken(c, id, idx, nowMs, finish),
          onFinish: (o) => onFinish(c, o),
        },
      );
      submitted.push(c.engineId);
    }
  } catch (err) {
    for (const id of submitted) engine.abort(id);
    throw err;
  }

  deps.inflight.add(res);
  res.on('close', () => {
    deps.inflight.delete(res);
    if (closed) return;
    closed = true;
    for (const c of choices) if (c.engineId && c.finishReason === null) engine.abort(c.engineId);
  });

  if (cr.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...call.headers });
    if (chat) {
      for (const c of choices) {
        writeChunk({ index: c.index, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }, c, 0);
        if (cr.chatEchoText) writeChunk({ index: c.index, delta: { content: cr.chatEchoText }, logprobs: null, finish_reason: null }, c, 0);
      }
    }
  }
  // Answered at once, without running: llm-d-inference-sim's cache_threshold finish reason.
  for (const c of choices) {
    if (!belowThreshold[c.promptIdx]) continue;
    c.finishReason = 'cache_threshold';
    metrics.observeCacheThreshold();
    if (cr.stream) writeChunk(chat ? { index: c.index, delta: {}, logprobs: null, finish_reason: 'cache_threshold' } : { index: c.index, text: '', logprobs: null, finish_reason: 'cache_threshold', stop_reason: null }, c, 0);
    done();
  }

  function writeChunk(choice: Record<string, unknown>, c: Choice, completionTokens: number): void {
    if (closed) return;
    const chunk: Record<string, unknown> = { id: call.id, object: chunkObject, created, model, choices: [choice] };
    if (cr.continuousUsage) {
      const p = c.prompt.tokenIds.length;
      chunk.usage = { prompt_tokens: p, completion_tokens: completionTokens, total_tokens: p + completionTokens };
    }
    res.write(`data: ${JSON.stringify(chunk)}\n\n`);
  }

  function onToken(c: Choice, id: number, idx: number, nowMs: number, finish: string | undefined): void {
    if (idx > 0) metrics.observeInterToken(nowMs - c.lastTokenMs);
    c.lastTokenMs = nowMs;
    c.generated = idx + 1;
    if (keepTokens) c.tokens.push(id);
    if (!cr.stream && !keepTexts) return;
    const tokenStr = tokenText(c, idx, id);
    if (keepTexts) c.texts.push(tokenStr);
    if (!cr.stream || closed) return;
    const finishReason = finish ? finishChoiceText(c, finish) : null;
    if (chat) {
      const logprobs = cr.logprobs !== null ? { content: [chatLogprobContent(tokenStr, genLogprobs(c, idx, cr.logprobs), cr.logprobs)] } : null;
      writeChunk({ index: c.index, delta: { content: tokenStr }, logprobs, finish_reason: finishReason }, c, c.generated);
      return;
    }
    // Completions: under echo the first chunk carries the prompt ahead of the first token.
    const entries: { text: string; pos: PositionLogprobs | null }[] = [];
    let text = '';
    if (cr.echo && !c.streamedAny) {
      text = c.prompt.text;
      if (cr.logprobs !== null) {
        const pieces = promptPieces(c.prompt);
        const positions = promptPositions(c.prompt, cr.logprobs);
        for (let i = 0; i < pieces.length; i++) entries.push({ text: pieces[i], pos: positions[i] });
      }
    }
    if (!echoOnly) {
      text += tokenStr;
      if (cr.logprobs !== null) entries.push({ text: tokenStr, pos: genLogprobs(c, idx, cr.logprobs) });
    }
    let logprobs: CompletionLogprobs | null = null;
    if (cr.logprobs !== null) {
      logprobs = emptyCompletionLogprobs();
      appendCompletionLogprobs(logprobs, entries, c.streamedChars);
    }
    c.streamedAny = true;
    c.streamedChars += text.length;
    writeChunk({ index: c.index, text, logprobs, finish_reason: finishReason, stop_reason: null }, c, c.generated);
  }

  function onFinish(c: Choice, o: RequestOutcome): void {
    c.outcome = o;
    c.finishReason = finishChoiceText(c, o.finishReason);
    const p = c.prompt.tokenIds.length;
    metrics.observeFinished(o, cr.maxTokens ?? (chat ? deps.maxModelLen - p : 16), c.finishReason);
    if (--parentLeft[c.promptIdx] === 0) {
      const siblings = choices.filter((x) => x.promptIdx === c.promptIdx);
      metrics.observeParentFinished(cr.n, Math.max(...siblings.map((x) => x.outcome?.completionTokens ?? 0)));
    }
    done();
  }

  /** The answer's text: echo pieces for echoed tokens, decoded ids for the rest. */
  function fullText(c: Choice): string {
    if (keepTexts) return c.texts.join('');
    if (!c.echoPieces) return tokenizer.decode(c.tokens);
    const n = Math.min(c.tokens.length, c.echoPieces.length);
    return c.echoPieces.slice(0, n).join('') + (c.tokens.length > n ? tokenizer.decode(c.tokens.slice(n)) : '');
  }

  function usage() {
    let prompt = 0;
    let cached = 0;
    let completion = 0;
    for (const [pi, p] of cr.prompts.entries()) {
      prompt += p.tokenIds.length;
      cached += choices.find((c) => c.promptIdx === pi)?.outcome?.cachedTokens ?? 0;
    }
    for (const c of choices) completion += c.outcome?.completionTokens ?? 0;
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cached } };
  }

  function kvTransferParams(): Record<string, unknown> | null {
    if (cr.kvTransferParams?.do_remote_decode !== true) return null;
    // What vLLM's NixlConnector hands back after a prefill: where the decode side pulls the blocks from.
    return {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_block_ids: choices[0]?.outcome?.blockIds ?? [],
      remote_engine_id: deps.kvOrigin.engineId,
      remote_host: deps.kvOrigin.host,
      remote_port: deps.kvOrigin.port,
      tp_size: 1,
    };
  }

  function finishResponse(): void {
    if (closed) return;
    closed = true;
    deps.inflight.delete(res);
    if (cr.stream) {
      if (cr.includeUsage) res.write(`data: ${JSON.stringify({ id: call.id, object: chunkObject, created, model, choices: [], usage: usage() })}\n\n`);
      res.end('data: [DONE]\n\n');
      return;
    }
    const out = choices.map((c) => {
      const text = echoOnly ? '' : fullText(c);
      const finish = c.finishReason;
      if (chat) {
        const logprobs = cr.logprobs !== null ? { content: c.tokens.map((_, i) => chatLogprobContent(c.texts[i], genLogprobs(c, i, cr.logprobs!), cr.logprobs!)) } : null;
        return { index: c.index, message: { role: 'assistant', content: (cr.chatEchoText ?? '') + text, tool_calls: [] }, logprobs, finish_reason: finish, stop_reason: null };
      }
      let logprobs: CompletionLogprobs | null = null;
      if (cr.logprobs !== null) {
        logprobs = emptyCompletionLogprobs();
        const entries: { text: string; pos: PositionLogprobs | null }[] = [];
        if (cr.echo) {
          const pieces = promptPieces(c.prompt);
          const positions = promptPositions(c.prompt, cr.logprobs);
          for (let i = 0; i < pieces.length; i++) entries.push({ text: pieces[i], pos: positions[i] });
        }
        if (!echoOnly) for (let i = 0; i < c.tokens.length; i++) entries.push({ text: c.texts[i], pos: genLogprobs(c, i, cr.logprobs) });
        appendCompletionLogprobs(logprobs, entries, 0);
      }
      const choice: Record<string, unknown> = { index: c.index, text: (cr.echo ? c.prompt.text : '') + text, logprobs, finish_reason: finish, stop_reason: null };
      choice.prompt_logprobs = cr.promptLogprobs !== null ? promptLogprobsJson(promptPositions(c.prompt, cr.promptLogprobs)) : null;
      return choice;
    });
    const body: Record<string, unknown> = { id: call.id, object, created, model, choices: out, usage: usage() };
    if (chat && cr.promptLogprobs !== null) body.prompt_logprobs = promptLogprobsJson(promptPositions(cr.prompts[0], cr.promptLogprobs));
    const ktp = kvTransferParams();
    if (ktp) body.kv_transfer_params = ktp;
    sendJson(res, 200, body, call.headers);
  }

  if (remaining === 0) finishResponse();
}
