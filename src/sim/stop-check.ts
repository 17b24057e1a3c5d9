/**
 * vLLM's stop conditions for one choice (SamplingParams `stop`, `stop_token_ids`,
 * `include_stop_str_in_output`), applied to the text as it is generated:
 *
 * - a stop string ends generation at the token whose text completes it; the answer's text ends
 *   just before the string (or just after it with `include_stop_str_in_output`), the finish reason
 *   is "stop" and `stop_reason` is that string. Strings are tried in the request's order.
 * - a stop token id ends generation at that token; its text is left out (kept with
 *   `include_stop_str_in_output`) and `stop_reason` is the id. As in vLLM's scheduler, reaching
 *   max_tokens on the same token wins (finish reason "length").
 *
 * Before `min_tokens` tokens nothing stops (vLLM: stop token ids count from the min_tokens-th
 * token on, stop strings only after it).
 *
 * Streams hold back the last (longest stop string − 1) characters until they cannot begin a stop
 * string, as vLLM's detokenizer does, so no chunk ever carries part of a stop string that is then
 * cut from the answer.
 */
export class StopCheck {
  /** The answer's text so far (after any cut). */
  private text = '';
  /** Characters of `text` already released to the client. */
  private released = 0;
  private readonly holdBack: number;
  /** Tokens pushed so far. */
  private count = 0;
  /** Why generation stopped: the stop string or token id (vLLM's `stop_reason`), null while running. */
  stopReason: string | number | null = null;

  constructor(
    private readonly stops: readonly string[],
    private readonly stopIds: ReadonlySet<number>,
    private readonly includeStop: boolean,
    /** vLLM's `min_tokens`. */
    private readonly minTokens = 0,
  ) {
    const longest = stops.reduce((m, s) => Math.max(m, s.length), 0);
    this.holdBack = includeStop ? 0 : Math.max(0, longest - 1);
  }

  /** The whole answer text (what a non-streamed response carries). */
  get output(): string {
    return this.text;
  }

  /**
   * Feeds one generated token. `last`: the engine ends the request at this token anyway.
   * Returns the text to send now (possibly empty) and whether generation stops at this token.
   */
  push(tokenId: number, piece: string, last: boolean): { release: string; stop: boolean } {
    this.count++;
    if (this.stopIds.has(tokenId) && !last && this.count >= this.minTokens) {
      this.stopReason = tokenId;
      if (this.includeStop) this.text += piece;
      return { release: this.flush(), stop: true };
    }
    const before = this.text.length;
    this.text += piece;
    for (const s of this.count > this.minTokens ? this.stops : []) {
      // Only a match that ends inside the new piece is new; earlier text was checked already.
      const at = this.text.indexOf(s, Math.max(0, before - s.length + 1));
      if (at < 0) continue;
      this.stopReason = s;
      this.text = this.text.slice(0, this.includeStop ? at + s.length : at);
      return { release: this.flush(), stop: true };
    }
    if (last) return { release: this.flush(), stop: false };
    let upTo = Math.max(this.released, this.text.length - this.holdBack);
    // Never split a surrogate pair between two chunks.
    if (upTo > this.released && upTo < this.text.length && isHighSurrogate(this.text.charCodeAt(upTo - 1))) upTo--;
    const out = this.text.slice(this.released, upTo);
    this.released = upTo;
    return { release: out, stop: false };
  }

  private flush(): string {
    const out = this.text.slice(this.released);
    this.released = this.text.length;
    return out;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
