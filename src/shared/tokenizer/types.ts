/**
 * Tokenizer contract shared by the engine (simulated vLLM) and the router, so both sides turn
 * the same text into the same token ids (engine/types.ts re-exports these).
 */
export interface ChatMessage {
  role: string;
  content: string | Array<{ type: string; text?: string }> | null;
  name?: string;
}

/** Turns text into token ids and back. Equal text must give equal ids. */
export interface Tokenizer {
  readonly name: string;
  encode(text: string): number[];
  decode(ids: number[]): string;
  /**
   * Renders chat messages with the model's chat format (generation prompt appended unless told
   * otherwise), the request's `tools` included (src/shared/chat/chat-text.ts).
   */
  renderChat(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean; continueFinalMessage?: boolean; tools?: unknown }): string;
  /** Vocabulary size (what vLLM's `logprobs: -1` expands to). */
  readonly vocabSize?: number;
  /** The exact text of each token of `text`, when the tokenizer can say (decode may not round-trip). */
  splitPieces?(text: string): string[];
}

/**
 * A tokenizer that can name exact token boundaries in a text: positions p where
 * `encode(text) = encode(text[0, p)) ++ encode(text[p, …))` holds for every text, as a property of
 * the tokenizer's algorithm (not of one input). PrefixCachingTokenizer caches pieces cut there.
 */
export interface CutPointTokenizer extends Tokenizer {
  /** The first exact cut at or after `from` (0 < from ≤ text.length), or text.length when none. */
  nextCut(text: string, from: number): number;
}
