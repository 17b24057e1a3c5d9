import { decode as msgpackDecode } from '@msgpack/msgpack';
import type { BlockExtraKeys, BlockRemovedEvent, BlockStoredEvent, EngineBlockHash, KvCacheEvent, KvEventBatch, KvEventMessage } from './events.js';

/**
 * Decoding of vLLM's KV-event stream: ZMQ multipart frames `[topic, seq, payload]` and the
 * msgpack EventBatch inside, in every encoding vLLM has shipped:
 *
 * - Batch: positional `[ts, events, data_parallel_rank?]` (msgspec `array_like`, every release
 *   so far) or a map `{ts, events, data_parallel_rank}` (EventBatch without `array_like`, seen
 *   on vLLM's main branch).
 * - Event: positional `[tag, field…]` (array_like, tag = class name first; fields appended over
 *   time: medium #19737, lora_name #27577, extra_keys #33304, group_idx #37688,
 *   kv_cache_spec_* #40984) or a map with the tag under `"type"` (vLLM PR #42892).
 *   msgspec's `omit_defaults` drops trailing default fields of arrays and default fields of maps,
 *   so every field after `lora_id` may be absent.
 * - BlockStored's 5th field was `num_toks_per_block: list[int]` in the first V1 releases and is
 *   `block_size: int` since.
 * - Hashes: u64 or i64 integers (`VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1`, the default) or raw
 *   digest bytes (`=0`); bytes are read as vLLM reads them into ints: big-endian, low 64 bits.
 *
 * Nothing here throws on bad input: a batch-level problem is a {@link DecodeError}, and a bad
 * event inside a good batch is left out of the batch and reported beside it, so one unknown
 * event kind never costs the rest of an engine step.
 */

export type DecodeErrorKind =
  | 'frame_count'
  | 'sequence_frame'
  | 'msgpack'
  | 'batch_shape'
  | 'event_shape'
  | 'unknown_tag'
  | 'missing_field'
  | 'wrong_type'
  | 'token_count_mismatch';

export const DECODE_ERROR_KINDS: readonly DecodeErrorKind[] = [
  'frame_count',
  'sequence_frame',
  'msgpack',
  'batch_shape',
  'event_shape',
  'unknown_tag',
  'missing_field',
  'wrong_type',
  'token_count_mismatch',
];

export interface DecodeError {
  kind: DecodeErrorKind;
  /** Human-readable; never contains token ids or payload bytes. */
  message: string;
}

export type Decoded<T> = { ok: true; value: T; eventErrors: DecodeError[] } | { ok: false; error: DecodeError };

class Bad extends Error {
  constructor(
    readonly kind: DecodeErrorKind,
    message: string,
  ) {
    super(message);
  }
}

const MAX_INT = Number.MAX_SAFE_INTEGER;

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v;
}

function int(v: unknown, field: string, min = -MAX_INT): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= min) return v;
  if (typeof v === 'bigint' && v >= BigInt(min) && v <= BigInt(MAX_INT)) return Number(v);
  throw new Bad('wrong_type', `${field}: expected an integer ≥ ${min}, got ${typeName(v)}`);
}

function optInt(v: unknown, field: string, min?: number): number | null {
  return v === undefined || v === null ? null : int(v, field, min);
}

function optStr(v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  throw new Bad('wrong_type', `${field}: expected a string, got ${typeName(v)}`);
}

/** One block hash as an unsigned 64-bit BigInt. */
export function blockHash(v: unknown, field: string): EngineBlockHash {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt.asUintN(64, BigInt(v));
  if (v instanceof Uint8Array && v.length > 0 && v.length <= 64) {
    let h = 0n;
    for (let i = Math.max(0, v.length - 8); i < v.length; i++) h = (h << 8n) | BigInt(v[i]);
    return h;
  }
  throw new Bad('wrong_type', `${field}: expected an integer or 1–64 hash bytes, got ${typeName(v)}`);
}

function hashList(v: unknown, field: string): EngineBlockHash[] {
  if (!Array.isArray(v)) throw new Bad('wrong_type', `${field}: expected an array, got ${typeName(v)}`);
  return v.map((h, i) => blockHash(h, `${field}[${i}]`));
}

function tokenList(v: unknown): number[] {
  if (!Array.isArray(v)) throw new Bad('wrong_type', `token_ids: expected an array, got ${typeName(v)}`);
  for (let i = 0; i < v.length; i++) {
    const t = v[i];
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t > 0xffffffff) {
      if (typeof t === 'bigint' && t >= 0n && t <= 0xffffffffn) v[i] = Number(t);
      else throw new Bad('wrong_type', `token_ids[${i}]: expected a token id (u32), got ${typeName(t)}`);
    }
  }
  return v as number[];
}

/** A stable text for any decoded msgpack value (for extra keys a router cannot interpret). */
function canonical(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return `b:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return typeof v;
}

/**
 * One block's extra keys. Typed form (vLLM's ExtraKey structs, maps tagged "lora", "cache_salt",
 * "mm", "prompt_embeds", "legacy") or the older bare tuple, whose strings are the LoRA name or
 * the cache_salt (as vLLM's generate_block_hash_extra_keys builds it) and whose tuples/bytes are
 * multimodal ids and prompt-embeds hashes.
 */
function blockExtraKeys(v: unknown, loraName: string | null, field: string): BlockExtraKeys | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new Bad('wrong_type', `${field}: expected an array or null, got ${typeName(v)}`);
  let cacheSalt: string | null = null;
  const other: string[] = [];
  for (const k of v) {
    if (isMap(k) && typeof k.type === 'string') {
      if (k.type === 'lora') continue;
      if (k.type === 'cache_salt' && typeof k.salt === 'string') cacheSalt = k.salt;
      else other.push(canonical(k));
    } else if (typeof k === 'string') {
      if (k === loraName) continue;
      cacheSalt = k;
    } else other.push(canonical(k));
  }
  if (cacheSalt === null && other.length === 0) return null;
  return { cacheSalt, other: other.length ? other.join(';') : null };
}

function extraKeyList(v: unknown, loraName: string | null): (BlockExtraKeys | null)[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v)) throw new Bad('wrong_type', `extra_keys: expected an array or null, got ${typeName(v)}`);
  const out = v.map((b, i) => blockExtraKeys(b, loraName, `extra_keys[${i}]`));
  return out.every((b) => b === null) ? null : out;
}

/** block_size (int) or the first releases' num_toks_per_block (one count per block, all equal). */
function blockSizeOf(v: unknown, field: string): number {
  if (Array.isArray(v)) {
    if (v.length === 0) throw new Bad('wrong_type', `${field}: empty num_toks_per_block`);
    const sizes = v.map((x, i) => int(x, `${field}[${i}]`, 1));
    if (sizes.some((s) => s !== sizes[0])) throw new Bad('wrong_type', `${field}: blocks of unequal size`);
    return sizes[0];
  }
  return int(v, field, 1);
}

function stored(f: {
  block_hashes: unknown;
  parent_block_hash: unknown;
  token_ids: unknown;
  block_size: unknown;
  lora_id: unknown;
  medium: unknown;
  lora_name: unknown;
  extra_keys: unknown;
  group_idx: unknown;
  kv_cache_spec_kind: unknown;
  kv_cache_spec_sliding_window: unknown;
}): BlockStoredEvent {
  const blockHashes = hashList(f.block_hashes, 'block_hashes');
  const parentBlockHash = f.parent_block_hash === null ? null : blockHash(f.parent_block_hash, 'parent_block_hash');
  const tokenIds = tokenList(f.token_ids);
  const blockSize = blockSizeOf(f.block_size, 'block_size');
  // No token ids at all is legal: a lower-tier copy (lazy CPU offload) of blocks whose identity
  // the consumer already knows from their GPU store.
  if (tokenIds.length !== 0 && tokenIds.length !== blockHashes.length * blockSize) {
    throw new Bad('token_count_mismatch', `BlockStored: ${tokenIds.length} token ids for ${blockHashes.length} blocks of ${blockSize}`);
  }
  const loraName = optStr(f.lora_name, 'lora_name');
  const extraKeys = extraKeyList(f.extra_keys, loraName);
  if (extraKeys && extraKeys.length !== blockHashes.length) {
    throw new Bad('wrong_type', `extra_keys: ${extraKeys.length} entries for ${blockHashes.length} blocks`);
  }
  return {
    type: 'BlockStored',
    blockHashes,
    parentBlockHash,
    tokenIds,
    blockSize,
    loraId: optInt(f.lora_id, 'lora_id'),
    loraName,
    medium: optStr(f.medium, 'medium'),
    extraKeys,
    groupIdx: optInt(f.group_idx, 'group_idx', 0),
    kvCacheSpecKind: optStr(f.kv_cache_spec_kind, 'kv_cache_spec_kind'),
    kvCacheSpecSlidingWindow: optInt(f.kv_cache_spec_sliding_window, 'kv_cache_spec_sliding_window'),
  };
}

function removed(hashes: unknown, medium: unknown, group: unknown): BlockRemovedEvent {
  return {
    type: 'BlockRemoved',
    blockHashes: hashList(hashes, 'block_hashes'),
    medium: optStr(medium, 'medium'),
    groupIdx: optInt(group, 'group_idx', 0),
  };
}

function need(o: Record<string, unknown>, key: string, tag: string): unknown {
  if (!(key in o)) throw new Bad('missing_field', `${tag}: missing ${key}`);
  return o[key];
}

function eventFromArray(a: unknown[]): KvCacheEvent {
  const tag = a[0];
  if (typeof tag !== 'string') throw new Bad('event_shape', `event tag: expected a string, got ${typeName(tag)}`);
  switch (tag) {
    case 'BlockStored': {
      if (a.length < 5) throw new Bad('missing_field', `BlockStored: ${a.length - 1} fields, need at least 4`);
      // vLLM's newest BlockStored puts event_version (int, default 1) before extra_keys; an
      // int where extra_keys (list or null) belongs can only be that.
      const rest = typeof a[8] === 'number' || typeof a[8] === 'bigint' ? a.slice(9) : a.slice(8);
      return stored({
        block_hashes: a[1],
        parent_block_hash: a[2] ?? null,
        token_ids: a[3],
        block_size: a[4],
        lora_id: a[5],
        medium: a[6],
        lora_name: a[7],
        extra_keys: rest[0],
        group_idx: rest[1],
        kv_cache_spec_kind: rest[2],
        kv_cache_spec_sliding_window: rest[3],
      });
    }
    case 'BlockRemoved':
      if (a.length < 2) throw new Bad('missing_field', 'BlockRemoved: missing block_hashes');
      return removed(a[1], a[2], a[3]);
    case 'AllBlocksCleared':
      return { type: 'AllBlocksCleared' };
    default:
      throw new Bad('unknown_tag', `unknown event tag ${JSON.stringify(tag.slice(0, 64))}`);
  }
}

function eventFromMap(o: Record<string, unknown>): KvCacheEvent {
  const tag = o.type;
  if (typeof tag !== 'string') throw new Bad('event_shape', `event "type": expected a string, got ${typeName(tag)}`);
  switch (tag) {
    case 'BlockStored': {
      const blockSize = 'block_size' in o ? o.block_size : need(o, 'num_toks_per_block', tag);
      return stored({
        block_hashes: need(o, 'block_hashes', tag),
        parent_block_hash: need(o, 'parent_block_hash', tag),
        token_ids: need(o, 'token_ids', tag),
        block_size: blockSize,
        lora_id: o.lora_id,
        medium: o.medium,
        lora_name: o.lora_name,
        extra_keys: o.extra_keys,
        group_idx: o.group_idx,
        kv_cache_spec_kind: o.kv_cache_spec_kind,
        kv_cache_spec_sliding_window: o.kv_cache_spec_sliding_window,
      });
    }
    case 'BlockRemoved':
      return removed(need(o, 'block_hashes', tag), o.medium, o.group_idx);
    case 'AllBlocksCleared':
      return { type: 'AllBlocksCleared' };
    default:
      throw new Bad('unknown_tag', `unknown event type ${JSON.stringify(tag.slice(0, 64))}`);
  }
}

function toError(err: unknown, fallback: DecodeErrorKind): DecodeError {
  if (err instanceof Bad) return { kind: err.kind, message: err.message };
  return { kind: fallback, message: err instanceof Error ? err.message : String(err) };
}

/** Decodes one event (array or map encoding). */
export function decodeEvent(raw: unknown): { ok: true; value: KvCacheEvent } | { ok: false; error: DecodeError } {
  try {
    if (Array.isArray(raw)) {
      if (raw.length === 0) throw new Bad('event_shape', 'empty event array');
      return { ok: true, value: eventFromArray(raw) };
    }
    if (isMap(raw)) return { ok: true, value: eventFromMap(raw) };
    throw new Bad('event_shape', `event: expected an array or a map, got ${typeName(raw)}`);
  } catch (err) {
    return { ok: false, error: toError(err, 'event_shape') };
  }
}

/** Decodes a msgpack EventBatch; bad events are left out and listed in `eventErrors`. */
export function decodeBatch(payload: Uint8Array): Decoded<KvEventBatch> {
  let raw: unknown;
  try {
    // Every element takes at least one byte: no length in a valid payload exceeds its size,
    // so a forged length header cannot make the decoder reserve more than the frame holds.
    const n = payload.byteLength;
    raw = msgpackDecode(payload, { useBigInt64: true, maxStrLength: n, maxBinLength: n, maxArrayLength: n, maxMapLength: n, maxExtLength: n });
  } catch (err) {
    return { ok: false, error: { kind: 'msgpack', message: `payload is not msgpack: ${(err as Error)?.message ?? String(err)}` } };
  }
  let ts: unknown;
  let events: unknown;
  let rank: unknown;
  if (Array.isArray(raw)) [ts, events, rank] = raw;
  else if (isMap(raw)) ({ ts, events, data_parallel_rank: rank } = raw);
  else return { ok: false, error: { kind: 'batch_shape', message: `batch: expected an array or a map, got ${typeName(raw)}` } };
  if (typeof ts === 'bigint') ts = Number(ts);
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return { ok: false, error: { kind: 'batch_shape', message: `batch ts: expected a number, got ${typeName(ts)}` } };
  if (!Array.isArray(events)) return { ok: false, error: { kind: 'batch_shape', message: `batch events: expected an array, got ${typeName(events)}` } };
  let dataParallelRank: number | null;
  try {
    dataParallelRank = optInt(rank, 'data_parallel_rank', 0);
  } catch (err) {
    return { ok: false, error: { ...toError(err, 'batch_shape'), kind: 'batch_shape' } };
  }
  const out: KvCacheEvent[] = [];
  const eventErrors: DecodeError[] = [];
  for (const e of events) {
    const d = decodeEvent(e);
    if (d.ok) out.push(d.value);
    else eventErrors.push(d.error);
  }
  return { ok: true, value: { ts, events: out, dataParallelRank }, eventErrors };
}

/** Reads an 8-byte big-endian sequence number; null when the frame is not 8 bytes. */
export function readSeq(frame: Uint8Array): bigint | null {
  if (frame.byteLength !== 8) return null;
  return Buffer.from(frame.buffer, frame.byteOffset, 8).readBigUInt64BE();
}

/** vLLM's replay end marker: seq −1 as signed 8 bytes (all 0xFF). */
export function isEndSeq(frame: Uint8Array): boolean {
  return frame.byteLength === 8 && frame.every((b) => b === 0xff);
}

/** Decodes one published multipart message `[topic, seq, payload]`. */
export function decodeMessage(frames: Uint8Array[]): Decoded<KvEventMessage> {
  if (frames.length !== 3) return { ok: false, error: { kind: 'frame_count', message: `expected 3 frames (topic, seq, payload), got ${frames.length}` } };
  const seq = readSeq(frames[1]);
  if (seq === null) return { ok: false, error: { kind: 'sequence_frame', message: `sequence frame: expected 8 bytes, got ${frames[1].byteLength}` } };
  const batch = decodeBatch(frames[2]);
  if (!batch.ok) return batch;
  const topic = Buffer.from(frames[0].buffer, frames[0].byteOffset, frames[0].byteLength).toString('utf8');
  return { ok: true, value: { topic, seq, batch: batch.value }, eventErrors: batch.eventErrors };
}

/** Counts of decode errors by kind, for metrics. */
export class DecodeErrorCounts {
  readonly counts: Record<DecodeErrorKind, number> = Object.fromEntries(DECODE_ERROR_KINDS.map((k) => [k, 0])) as Record<DecodeErrorKind, number>;

  add(err: DecodeError): void {
    this.counts[err.kind]++;
  }

  get total(): number {
    return DECODE_ERROR_KINDS.reduce((n, k) => n + this.counts[k], 0);
  }
}
