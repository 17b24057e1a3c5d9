import type { Tokenizer } from '../engine/types.js';
import { mixSeed } from '../shared/seed.js';

/** One token with its (synthetic) log-probability and rank among the vocabulary (1 = most likely). */
export interface TokenLogprob {
  id: number;
  text: string;
  logprob: number;
  rank: number;
}

/** A position's logprobs: the token that is there and the most likely tokens, sorted, best first. */
export interface PositionLogprobs {
  chosen: TokenLogprob;
  top: TokenLogprob[];
}

/** 32-bit avalanche of four words (murmur3's finalizer over a running mix). */
function mix(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  for (const w of [b, c, d]) {
    h ^= Math.imul(w | 0, 0xcc9e2d51);
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const unit = (h: number) => h / 4294967296;

/**
 * Synthetic but well-formed logprobs, a pure function of (seed, position, token, previous token):
 * the same seed and text give the same numbers. Every value is ≤ 0, the probabilities of one
 * position sum to less than 1, ranks are 1..k in descending probability, and token strings come
 * from the tokenizer. A generated token is always the most likely one (rank 1), as under greedy
 * decoding; a prompt token may sit lower (ranks 1–4), as real prompts do.
 *
 * `candidates` are the token ids alternatives are drawn from (they must decode to distinct,
 * non-empty strings; `candidateIds` builds such a list).
 */
export class LogprobSource {
  /** The seed as 32 bits of hash input, every bit of it counting (mixSeed; the same as the seed below 2^32). */
  private readonly state: number;

  constructor(
    seed: number,
    private readonly tokenizer: Tokenizer,
    private readonly candidates: readonly number[],
  ) {
    this.state = mixSeed(seed, 0);
  }

  /** Logprobs of a generated token at `position` with the `k` most likely tokens. */
  generated(id: number, text: string, position: number, prevId: number, k: number): PositionLogprobs {
    return this.position(id, text, position, prevId, k, 1);
  }

  /** Logprobs of a prompt token at `position` (≥ 1; the first prompt token has none, as in vLLM). */
  prompt(id: number, text: string, position: number, prevId: number, k: number): PositionLogprobs {
    const rank = 1 + (mix(this.state, position, id, 0x70726f6d) % 4);
    return this.position(id, text, position, prevId, k, rank);
  }

  private position(id: number, text: string, position: number, prevId: number, k: number, chosenRank: number): PositionLogprobs {
    const h = mix(this.state, position, id, prevId);
    const depth = Math.max(k, chosenRank);
    // p(rank 1) in [0.35, 0.95); rank r+1 at most half of rank r, so the list is sorted and sums below 1.
    const probs: number[] = [0.35 + 0.6 * unit(h)];
    for (let r = 2; r <= depth; r++) probs.push(((1 - probs[0]) * (0.6 + 0.4 * unit(mix(h, r, 1, 2)))) / 2 ** (r - 1));
    const alternates = this.alternates(id, text, depth - 1, h);
    const top: TokenLogprob[] = [];
    let a = 0;
    let chosen: TokenLogprob | undefined;
    for (let r = 1; r <= depth; r++) {
      const entry: TokenLogprob =
        r === chosenRank ? { id, text, logprob: Math.log(probs[r - 1]), rank: r } : { ...alternates[a++], logprob: Math.log(probs[r - 1]), rank: r };
      if (r === chosenRank) chosen = entry;
      if (r <= k) top.push(entry);
    }
    return { chosen: chosen!, top };
  }

  /** `n` tokens other than `id` whose strings differ from each other and from `text`. */
  private alternates(id: number, text: string, n: number, h: number): { id: number; text: string }[] {
    const out: { id: number; text: string }[] = [];
    if (n <= 0) return out;
    const seen = new Set([text]);
    const c = this.candidates;
    for (let j = 0; j < c.length && out.length < n; j++) {
      const cid = c[(h + j) % c.length];
      if (cid === id) continue;
      const t = this.tokenizer.decode([cid]);
      if (seen.has(t)) continue;
      seen.add(t);
      out.push({ id: cid, text: t });
    }
    // A tokenizer with fewer distinct strings than asked for: pad with unique placeholders.
    for (let j = 0; out.length < n; j++) out.push({ id: -1 - j, text: `<alt${j}>` });
    return out;
  }
}

/** Token ids of `words` under `tokenizer` that decode to distinct non-empty strings (candidate alternatives). */
export function candidateIds(tokenizer: Tokenizer, ids: Iterable<number>): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  for (const id of ids) {
    const t = tokenizer.decode([id]);
    if (t === '' || seen.has(t)) continue;
    seen.add(t);
    out.push(id);
  }
  return out;
}

/** UTF-8 bytes of a token string, as vLLM's chat logprobs report them. */
export function utf8Bytes(text: string): number[] {
  return [...Buffer.from(text, 'utf8')];
}

/** vLLM clamps −inf logprobs to −9999.0 in responses. */
const clamp = (x: number) => Math.max(x, -9999);

/** The completions API's `logprobs` object over consecutive tokens (vLLM's CompletionLogProbs). */
export interface CompletionLogprobs {
  text_offset: number[];
  token_logprobs: (number | null)[];
  tokens: string[];
  top_logprobs: (Record<string, number> | null)[];
}

/**
 * Appends tokens to a completions `logprobs` object. `pos` null means "no logprob here" (the
 * first prompt token under echo). The top dict holds the most likely tokens up to `k` — the
 * sampled one always among them, so k entries (one when k is 0), as vLLM's N+1-with-duplicate rule gives.
 */
export function appendCompletionLogprobs(out: CompletionLogprobs, entries: { text: string; pos: PositionLogprobs | null }[], startOffset: number): void {
  let offset = out.text_offset.length ? out.text_offset[out.text_offset.length - 1] + out.tokens[out.tokens.length - 1].length : startOffset;
  for (const e of entries) {
    out.text_offset.push(offset);
    out.tokens.push(e.text);
    offset += e.text.length;
    if (!e.pos) {
      out.token_logprobs.push(null);
      out.top_logprobs.push(null);
      continue;
    }
    out.token_logprobs.push(clamp(e.pos.chosen.logprob));
    const top: Record<string, number> = { [e.pos.chosen.text]: clamp(e.pos.chosen.logprob) };
    for (const t of e.pos.top) if (!(t.text in top)) top[t.text] = clamp(t.logprob);
    out.top_logprobs.push(top);
  }
}

export function emptyCompletionLogprobs(): CompletionLogprobs {
  return { text_offset: [], token_logprobs: [], tokens: [], top_logprobs: [] };
}

/** One entry of the chat API's `logprobs.content` (vLLM's ChatCompletionLogProbsContent). */
export function chatLogprobContent(text: string, pos: PositionLogprobs, k: number) {
  return {
    token: text,
    logprob: clamp(pos.chosen.logprob),
    bytes: utf8Bytes(text),
    top_logprobs: pos.top.slice(0, k).map((t) => ({ token: t.text, logprob: clamp(t.logprob), bytes: utf8Bytes(t.text) })),
  };
}

/** vLLM's `prompt_logprobs`: null for the first token, then {token_id: {logprob, rank, decoded_token}}, the prompt token first. */
export function promptLogprobsJson(positions: (PositionLogprobs | null)[]): (Record<string, { logprob: number; rank: number; decoded_token: string }> | null)[] {
  return positions.map((p) => {
    if (!p) return null;
    const o: Record<string, { logprob: number; rank: number; decoded_token: string }> = {};
    for (const t of [p.chosen, ...p.top]) {
      const key = String(t.id);
      if (!(key in o)) o[key] = { logprob: clamp(t.logprob), rank: t.rank, decoded_token: t.text };
    }
    return o;
  });
}
