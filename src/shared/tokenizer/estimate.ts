import type { ChatMessage, CutPointTokenizer } from './types.js';
import { IM_END, IM_START, renderChatML } from '../chat/chat-text.js';

/**
 * Fast deterministic tokenizer: ~4 characters per token.
 *
 * Text is split at ChatML markers and newlines (each one token), and every other run is cut
 * into 4-character pieces from its start. So equal text gives equal ids, a shared text prefix
 * gives a shared id prefix, and a reply decoded from ids re-encodes to the same ids when it is
 * sent back in the next chat turn (the property vLLM's output-block caching relies on).
 *
 * Ids: 0..VOCAB_WORDS-1 are the 4-character pieces `decode` emits (sampled for output);
 * specials follow; every other piece hashes into the range above them.
 */
const WORDS = [
  'the ', 'and ', 'for ', 'are ', 'but ', 'not ', 'you ', 'all ', 'any ', 'can ', 'her ', 'was ', 'one ', 'our ',
  'out ', 'day ', 'get ', 'has ', 'him ', 'his ', 'how ', 'man ', 'new ', 'now ', 'old ', 'see ', 'two ', 'way ',
  'who ', 'boy ', 'did ', 'its ', 'let ', 'put ', 'say ', 'she ', 'too ', 'use ', 'map ', 'sky ', 'sea ', 'sun ',
  'key ', 'run ', 'set ', 'top ', 'red ', 'big ', 'end ', 'why ', 'ask ', 'men ', 'own ', 'air ', 'far ', 'few ',
  'cat ', 'dog ', 'art ', 'box ', 'car ', 'cup ', 'eye ', 'fun ', 'hot ', 'ice ', 'job ', 'law ', 'low ', 'oil ',
  'pay ', 'row ', 'tea ', 'war ', 'yes ', 'yet ', 'age ', 'bed ', 'bit ', 'cut ', 'due ', 'ear ', 'egg ', 'fit ',
];
export const ESTIMATE_OUTPUT_VOCAB = WORDS.length;
const SPECIAL_IM_START = WORDS.length;
const SPECIAL_IM_END = WORDS.length + 1;
const SPECIAL_NEWLINE = WORDS.length + 2;
const HASHED_BASE = WORDS.length + 3;
const HASHED_RANGE = 151_000; // about Qwen's vocabulary size

/**
 * Four ASCII characters packed 7 bits each into one small integer (a key with no string behind
 * it); -1 when a character is not ASCII, which no word is.
 */
function packAscii4(text: string, start: number): number {
  const a = text.charCodeAt(start), b = text.charCodeAt(start + 1), c = text.charCodeAt(start + 2), d = text.charCodeAt(start + 3);
  if ((a | b | c | d) > 127) return -1;
  return (a << 21) | (b << 14) | (c << 7) | d;
}

// Keyed by packAscii4, not by the piece's string: slicing a 4-character string per token was a
// third of everything `kvgate simulate` allocated (sampled heap profile of the llm-d shape).
const wordIds = new Map(WORDS.map((w, i) => [packAscii4(w, 0), i]));

function pieceId(text: string, start: number, end: number): number {
  const known = end - start === 4 ? wordIds.get(packAscii4(text, start)) : undefined;
  if (known !== undefined) return known;
  // FNV-1a over UTF-16 code units.
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return HASHED_BASE + ((h >>> 0) % HASHED_RANGE);
}

export class EstimateTokenizer implements CutPointTokenizer {
  readonly name = 'estimate';

  encode(text: string): number[] {
    const ids: number[] = [];
    this.scan(text, (id) => ids.push(id));
    return ids;
  }

  /** The text of each token of `text`, so echo mode can stream the input back exactly. */
  splitPieces(text: string): string[] {
    const pieces: string[] = [];
    this.scan(text, (_id, start, end) => pieces.push(text.slice(start, end)));
    return pieces;
  }

  /** Walks the tokens of `text` in order: (id, start, end) per token. */
  private scan(text: string, emit: (id: number, start: number, end: number) => void): void {
    let runStart = 0;
    const flushRun = (end: number) => {
      for (let s = runStart; s < end; s += 4) emit(pieceId(text, s, Math.min(s + 4, end)), s, Math.min(s + 4, end));
    };
    let i = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      let special = -1;
      let len = 0;
      if (c === 10 /* \n */) [special, len] = [SPECIAL_NEWLINE, 1];
      else if (c === 60 /* < */ && text.startsWith(IM_START, i)) [special, len] = [SPECIAL_IM_START, IM_START.length];
      else if (c === 60 && text.startsWith(IM_END, i)) [special, len] = [SPECIAL_IM_END, IM_END.length];
      if (special < 0) {
        i += 1;
        continue;
      }
      flushRun(i);
      emit(special, i, i + len);
      i += len;
      runStart = i;
    }
    flushRun(text.length);
  }

  /**
   * Exact cuts: both sides of every newline and ChatML marker, where `scan` ends one run of
   * 4-character pieces and starts the next.
   */
  nextCut(text: string, from: number): number {
    let best = text.length;
    const nl = text.indexOf('\n', from);
    if (nl >= 0) best = nl;
    for (const m of [IM_START, IM_END]) {
      // A marker that began before `from` ends at a cut too.
      const at = text.indexOf(m, Math.max(0, from - m.length + 1));
      if (at < 0) continue;
      const cut = at >= from ? at : at + m.length;
      if (cut < best) best = cut;
    }
    return best;
  }

  decode(ids: number[]): string {
    let out = '';
    for (const id of ids) {
      if (id < WORDS.length) out += WORDS[id];
      else if (id === SPECIAL_IM_START) out += IM_START;
      else if (id === SPECIAL_IM_END) out += IM_END;
      else if (id === SPECIAL_NEWLINE) out += '\n';
      else out += WORDS[id % WORDS.length];
    }
    return out;
  }

  renderChat(messages: ChatMessage[], opts?: { tools?: unknown }): string {
    return renderChatML(messages, opts?.tools);
  }
}
