import { EstimateTokenizer, renderChatML } from '../engine/index.js';
import { tracePromptTokenIds } from '../bench/trace.js';
import { requestBody } from '../bench/runner.js';
import type { BenchRequest, ChatMessage } from '../bench/workloads.js';

/** One request as both sides see it: the HTTP body the gateway parses, the token ids the engine prefills. */
export interface PreparedRequest {
  path: '/v1/completions' | '/v1/chat/completions';
  /** Exactly what `kvgate bench` sends (src/bench/runner.ts requestBody). */
  body: Buffer;
  /** As `kvgate sim` tokenizes the body (estimate tokenizer; chat rendered with ChatML first). */
  promptTokenIds: number[];
  maxTokens: number;
}

const tokenizer = new EstimateTokenizer();

/**
 * Turns workload requests into what the gateway and the engine receive, exactly as `kvgate bench`
 * → gateway → `kvgate sim` would: the body is the bench's, parsed by the real lifecycle; the
 * token ids are the simulator's estimate tokenizer over the prompt (chat rendered as `kvgate sim`
 * renders it). Completions requests are prepared once and reused across policies (workload
 * requests are shared objects); trace prompts are synthesised from their block ids, never
 * tokenized or kept (a Mooncake replay is 145M prompt tokens).
 */
export class RequestPreparer {
  private readonly cache = new WeakMap<BenchRequest, PreparedRequest>();

  /** `model`: the served model name the request bodies carry (and the replicas list). */
  constructor(readonly model: string) {}

  prepare(req: BenchRequest, messages: ChatMessage[] | undefined): PreparedRequest {
    const cached = this.cache.get(req);
    if (cached) return cached;
    const body = Buffer.from(requestBody(this.model, req, messages));
    if (req.kind === 'chat') {
      const msgs = messages ?? req.messages ?? [];
      return { path: '/v1/chat/completions', body, promptTokenIds: tokenizer.encode(renderChatML(msgs)), maxTokens: req.maxTokens };
    }
    if (req.trace) return { path: '/v1/completions', body, promptTokenIds: tracePromptTokenIds(req.trace), maxTokens: req.maxTokens };
    const prepared: PreparedRequest = { path: '/v1/completions', body, promptTokenIds: tokenizer.encode(req.prompt ?? ''), maxTokens: req.maxTokens };
    this.cache.set(req, prepared);
    return prepared;
  }

  /** The text of generated token ids, as the simulator streams it (the next turn of a conversation sends it back). */
  decode(ids: number[]): string {
    return tokenizer.decode(ids);
  }
}
