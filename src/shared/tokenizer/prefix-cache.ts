import type { ChatMessage, CutPointTokenizer, Tokenizer } from './types.js';

export interface PrefixCacheOptions {
  /** Texts shorter than this are encoded directly (caching costs more than it saves). Default 2048 chars. */
  minCachedChars?: number;
  /** Target piece length: a piece ends at the first exact cut at or after this many characters. Default 1024. */
  pieceChars?: number;
  /** Cache budget: token ids held, all pieces together (each id 4 bytes, plus about 2 bytes a character of key text). Default 2,000,000. */
  maxCachedTokens?: number;
}

export interface PrefixCacheStats {
  hits: number;
  misses: number;
  /** Token ids held now. */
  cachedTokens: number;
  pieces: number;
}

/**
 * Tokenization with a cache of text pieces, so a long shared prefix (a system prompt, the earlier
 * turns of an agent session) is tokenized once, and every later request pays a lookup.
 *
 * Exactness: a text is cut only where its tokenizer guarantees a token boundary
 * (`CutPointTokenizer.nextCut`: special tokens, and for known pre-tokenizers a newline before a
 * letter), so encode(text) is exactly the concatenation of the pieces' encodings — no token
 * straddles a cut, whatever follows. Pieces are chosen from the text's start (the first cut at
 * or after every `pieceChars` characters of the current piece), so two texts that share a prefix
 * share every piece that ends inside it; the piece spanning the end of the shared part and the
 * rest are tokenized afresh. Pieces are keyed by their text, so a piece seen anywhere is reused.
 * A text without cut points is one piece (no gain, no error).
 *
 * Memory: bounded by `maxCachedTokens`, least recently used pieces evicted first.
 */
export class PrefixCachingTokenizer {
  private readonly cache = new Map<string, Uint32Array>();
  private readonly minChars: number;
  private readonly pieceChars: number;
  private readonly maxTokens: number;
  private readonly counters: PrefixCacheStats = { hits: 0, misses: 0, cachedTokens: 0, pieces: 0 };

  constructor(
    readonly base: CutPointTokenizer,
    opts: PrefixCacheOptions = {},
  ) {
    this.minChars = opts.minCachedChars ?? 2048;
    this.pieceChars = Math.max(1, opts.pieceChars ?? 1024);
    this.maxTokens = opts.maxCachedTokens ?? 2_000_000;
  }

  get name(): string {
    return this.base.name;
  }

  encode(text: string): number[] {
    if (text.length < this.minChars) return this.base.encode(text);
    return Array.from(this.encodeIds(text));
  }

  /**
   * As `encode`, into one typed array (what the router hashes): the cached pieces are copied in
   * with `set`, so a long prompt seen before costs a lookup per piece and one copy.
   */
  encodeIds(text: string): Uint32Array {
    if (text.length < this.minChars) return Uint32Array.from(this.base.encode(text));
    const parts: ArrayLike<number>[] = [];
    let total = 0;
    for (let pos = 0; pos < text.length; ) {
      const end = Math.max(pos + 1, Math.min(text.length, this.base.nextCut(text, Math.min(text.length, pos + this.pieceChars))));
      const ids = this.piece(text.slice(pos, end));
      parts.push(ids);
      total += ids.length;
      pos = end;
    }
    const out = new Uint32Array(total);
    let o = 0;
    for (const p of parts) {
      if (p instanceof Uint32Array) out.set(p, o);
      else for (let i = 0; i < p.length; i++) out[o + i] = p[i];
      o += p.length;
    }
    return out;
  }

  decode(ids: number[]): string {
    return this.base.decode(ids);
  }

  renderChat(messages: ChatMessage[], opts?: Parameters<Tokenizer['renderChat']>[1]): string {
    return this.base.renderChat(messages, opts);
  }

  stats(): PrefixCacheStats {
    return { ...this.counters, pieces: this.cache.size };
  }

  private piece(text: string): ArrayLike<number> {
    const hit = this.cache.get(text);
    if (hit) {
      this.counters.hits++;
      // Most recently used last: Map iteration order is the LRU order.
      this.cache.delete(text);
      this.cache.set(text, hit);
      return hit;
    }
    this.counters.misses++;
    const ids = this.base.encode(text);
    if (ids.length > this.maxTokens) return ids;
    // A fresh flat copy of the key: a slice would keep the whole request text alive.
    const key = Buffer.from(text, 'utf16le').toString('utf16le');
    const arr = Uint32Array.from(ids);
    this.cache.set(key, arr);
    this.counters.cachedTokens += ids.length;
    for (const [k, v] of this.cache) {
      if (this.counters.cachedTokens <= this.maxTokens) break;
      this.cache.delete(k);
      this.counters.cachedTokens -= v.length;
    }
    return arr;
  }
}
