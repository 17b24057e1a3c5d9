import { EstimateTokenizer, renderChatML } from '../engine/index.js';
import { tracePromptText, tracePromptTokenIds } from '../bench/trace.js';
import type { BenchRequest, ChatMessage } from '../bench/workloads.js';

/** One request as both sides see it: the text the gateway parses, the token ids the engine prefills. */
export interface PreparedRequest {
  api: 'completions' | 'chat';
  /** What the router's prefix index hashes: the completions prompt, or the JSON of the messages. */
  prefixText: string;
  /** The gateway's estimate: ⌈prefixText.length / 4⌉ (parse-request.ts). */
  routerPromptTokens: number;
  /** As `kvgate sim` tokenizes it (estimate tokenizer; chat rendered with ChatML first). */
  promptTokenIds: number[];
  maxTokens: number;
}

const tokenizer = new EstimateTokenizer();

/**
 * Turns workload requests into what the gateway and the engine receive, exactly as `kvgate bench`
 * → gateway → `kvgate sim` would: the gateway's prefix text and token estimate follow
 * src/router/parse-request.ts, the engine's token ids the simulator's estimate tokenizer and
 * chat template. Completions prompts are tokenized once and reused across policies (workload
 * requests are shared objects); trace prompts are synthesised from their block ids, never
 * tokenized or kept (a Mooncake replay is 145M prompt tokens).
 */
export class RequestPreparer {
  private readonly ids = new WeakMap<BenchRequest, number[]>();

  prepare(req: BenchRequest, messages: ChatMessage[] | undefined): PreparedRequest {
    if (req.kind === 'chat') {
      const msgs = messages ?? req.messages ?? [];
      const prefixText = JSON.stringify(msgs);
      return { api: 'chat', prefixText, routerPromptTokens: Math.ceil(prefixText.length / 4), promptTokenIds: tokenizer.encode(renderChatML(msgs)), maxTokens: req.maxTokens };
    }
    if (req.trace) {
      const prefixText = tracePromptText(req.trace);
      return { api: 'completions', prefixText, routerPromptTokens: Math.ceil(prefixText.length / 4), promptTokenIds: tracePromptTokenIds(req.trace), maxTokens: req.maxTokens };
    }
    const prompt = req.prompt ?? '';
    let ids = this.ids.get(req);
    if (!ids) this.ids.set(req, (ids = tokenizer.encode(prompt)));
    return { api: 'completions', prefixText: prompt, routerPromptTokens: Math.ceil(prompt.length / 4), promptTokenIds: ids, maxTokens: req.maxTokens };
  }

  /** The text of generated token ids, as the simulator streams it (the next turn of a conversation sends it back). */
  decode(ids: number[]): string {
    return tokenizer.decode(ids);
  }
}
