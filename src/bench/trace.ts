import { readFileSync } from 'node:fs';
import { createRng } from '../shared/rng.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { EstimateTokenizer } from '../shared/tokenizer/estimate.js';

/**
 * Mooncake-format request traces (kvcache-ai/Mooncake FAST'25 release): one JSON object a line with
 * `timestamp` (ms since the first request), `input_length` and `output_length` (tokens) and
 * `hash_ids`, one id per 512-token block of the input (the last block may be partial). Requests
 * whose `hash_ids` share a leading run share that much prompt prefix.
 *
 * Traces carry no text, so each block's content is synthesised from its id: equal ids give equal
 * text (and equal token ids), different ids give different text. A block of n tokens is n pieces of
 * three lower-case letters and a space — exactly n tokens for the project's estimate tokenizer
 * (4 characters a token), aligned with its 16-token KV blocks and the router's 64-character blocks.
 * Ids are any integers from 0 to Number.MAX_SAFE_INTEGER (2^53 − 1), each its own text (see block).
 */
export const TRACE_BLOCK_TOKENS = 512;

export interface TraceRecord {
  /** Arrival, ms after the trace's first request (unscaled). */
  timestampMs: number;
  inputLength: number;
  outputLength: number;
  hashIds: number[];
}

/** Reads and validates a Mooncake trace; errors name the file and line. Records are sorted by timestamp (stable). */
export function readTrace(path: string): TraceRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `--trace ${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { param: 'trace' });
  }
  const out: TraceRecord[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (!line.trim()) continue;
    const bad = (why: string) => new KvgateError(ErrorCode.InvalidConfig, `--trace ${path}:${lineNo}: ${why}`, { param: 'trace' });
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch (err) {
      throw bad(`invalid JSON (${(err as Error).message})`);
    }
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw bad('expected an object');
    const ts = o.timestamp;
    const inLen = o.input_length;
    const outLen = o.output_length;
    const ids = o.hash_ids;
    if (typeof ts !== 'number' || !Number.isFinite(ts) || ts < 0) throw bad('"timestamp" must be a number of milliseconds >= 0');
    if (!Number.isInteger(inLen) || (inLen as number) < 1) throw bad('"input_length" must be a positive integer');
    if (!Number.isInteger(outLen) || (outLen as number) < 0) throw bad('"output_length" must be an integer >= 0');
    if (!Array.isArray(ids) || !ids.every((h) => Number.isInteger(h) && h >= 0)) throw bad('"hash_ids" must be an array of non-negative integers');
    // JSON.parse rounds an integer past 2^53 − 1 to a neighbour, so two different ids could read
    // as one (and share text they should not): refused, not silently merged.
    const unsafe = ids.findIndex((h) => !Number.isSafeInteger(h));
    if (unsafe >= 0) throw bad(`"hash_ids"[${unsafe}] is beyond Number.MAX_SAFE_INTEGER (${Number.MAX_SAFE_INTEGER}): ids that large lose precision as JSON numbers and could merge; renumber the trace's ids below 2^53`);
    const need = Math.ceil((inLen as number) / TRACE_BLOCK_TOKENS);
    if (ids.length !== need) throw bad(`"hash_ids" has ${ids.length} ids but input_length ${inLen} needs ${need} blocks of ${TRACE_BLOCK_TOKENS} tokens`);
    out.push({ timestampMs: ts, inputLength: inLen as number, outputLength: outLen as number, hashIds: ids as number[] });
  }
  if (out.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, `--trace ${path}: no requests`, { param: 'trace' });
  // Stable sort: published traces are in order, but replaying out of order would be wrong.
  return out.map((r, i) => [r, i] as const).sort((a, b) => a[0].timestampMs - b[0].timestampMs || a[1] - b[1]).map(([r]) => r);
}

const LETTERS = 26 ** 3;

/**
 * The estimate tokenizer's id of each piece "aaa " … "zzz " (one token each), so synthesised token
 * ids are exactly what `kvgate sim` and a router's `--tokenizer estimate` make of the text.
 */
let pieceIds: Uint32Array | undefined;
function pieceIdTable(): Uint32Array {
  if (pieceIds) return pieceIds;
  const t = new EstimateTokenizer();
  const ids = new Uint32Array(LETTERS);
  for (let p = 0; p < LETTERS; p++) {
    ids[p] = t.encode(String.fromCharCode(97 + Math.floor(p / 676), 97 + (Math.floor(p / 26) % 26), 97 + (p % 26), 32))[0];
  }
  return (pieceIds = ids);
}

interface Block {
  /** Piece index (0 … 26³−1) of each token: "aaa " … "zzz ". */
  pieces: Uint16Array;
  text: string;
}

/**
 * Recently synthesised blocks, least recently used first (a Map keeps insertion order; a hit is
 * re-inserted). Block 0 of a trace is in almost every request, and a conversation's next turn
 * repeats its blocks; 16,384 blocks (~50 MB) catch about a quarter of a Mooncake replay's blocks.
 */
const cache = new Map<number, Block>();
const CACHE_LIMIT = 16_384;
const bytes = Buffer.alloc(TRACE_BLOCK_TOKENS * 4);
const TWO_32 = 2 ** 32;
/** Leading pieces of a block whose id is 2^32 or more that spell the id in base 26³ (26¹² > 2^53). */
const ID_PIECES = 4;

/**
 * The block of `hashId` (a safe integer ≥ 0). The PRNG seed is 32 bits: the id's low word hashed as
 * it always was (ids below 2^32, which every published trace uses, keep their text), xor its high
 * word hashed. An id of 2^32 or more also spells itself in its first four pieces, so no two such
 * ids share text however their seeds fall (a seed from the low word alone gave id and id + 2^32
 * the same text), and its seed differs from the same low word's below 2^32.
 */
function block(hashId: number): Block {
  let b = cache.get(hashId);
  if (b) {
    cache.delete(hashId);
    cache.set(hashId, b);
    return b;
  }
  // One PRNG stream per block id (a multiplicative hash spreads neighbouring ids); one draw per
  // piece, written as bytes and decoded once (cheaper than joining 512 strings).
  const hi = Math.floor(hashId / TWO_32);
  const r = createRng((Math.imul(hashId >>> 0, 0x9e3779b1) ^ 0x5bd1e995 ^ Math.imul(hi, 0x85ebca6b)) >>> 0);
  const pieces = new Uint16Array(TRACE_BLOCK_TOKENS);
  const head = hi > 0 ? ID_PIECES : 0;
  // Base-26³ digits, most significant first; % and an exact division keep every step an integer.
  for (let i = head - 1, rest = hashId; i >= 0; i--) {
    pieces[i] = rest % LETTERS;
    rest = (rest - pieces[i]) / LETTERS;
  }
  for (let i = 0, o = 0; i < TRACE_BLOCK_TOKENS; i++, o += 4) {
    const p = i < head ? pieces[i] : Math.floor(r() * LETTERS);
    pieces[i] = p;
    bytes[o] = 97 + Math.floor(p / 676);
    bytes[o + 1] = 97 + (Math.floor(p / 26) % 26);
    bytes[o + 2] = 97 + (p % 26);
    bytes[o + 3] = 32;
  }
  b = { pieces, text: bytes.toString('latin1') };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as number);
  cache.set(hashId, b);
  return b;
}

/** The prompt text of a trace request: its blocks' text, the last one cut to input_length. */
export function tracePromptText(r: TraceRecord): string {
  let s = '';
  const n = r.hashIds.length;
  for (let i = 0; i < n; i++) {
    const t = block(r.hashIds[i]).text;
    s += i < n - 1 ? t : t.slice(0, (r.inputLength - (n - 1) * TRACE_BLOCK_TOKENS) * 4);
  }
  return s;
}

/**
 * Token ids of a trace request's prompt, synthesised directly (tokenizing 12,000-token prompts is
 * the slow part of a replay): exactly the estimate tokenizer's ids of `tracePromptText(r)`.
 */
export function tracePromptTokenIds(r: TraceRecord): number[] {
  const table = pieceIdTable();
  const ids = new Array<number>(r.inputLength);
  let k = 0;
  for (const h of r.hashIds) {
    const p = block(h).pieces;
    for (let i = 0; i < TRACE_BLOCK_TOKENS && k < r.inputLength; i++) ids[k++] = table[p[i]];
  }
  return ids;
}
