import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encode } from '@msgpack/msgpack';
import fc from 'fast-check';
import { decodeBatch, decodeMessage, DecodeErrorCounts, type DecodeError } from '../../src/datalayer/kv-events/decoder.js';
import { encodeBatch } from '../../src/sim/kv-event-publisher.js';
import type { KvCacheEvent } from '../../src/datalayer/kv-events/events.js';

interface Vector {
  name: string;
  source: string;
  payload: string;
  frames?: string[];
  expected: { ts: number; dataParallelRank: number | null; events: Record<string, unknown>[]; topic?: string; seq?: string };
}
const fixture = JSON.parse(readFileSync(new URL('../fixtures/kv-events/vllm-events.json', import.meta.url), 'utf8')) as { vectors: Vector[] };

/** The fixture spells u64 hashes as decimal strings; decoded events hold BigInts. */
function expectedEvent(e: Record<string, unknown>): KvCacheEvent {
  const out: Record<string, unknown> = { ...e };
  if (Array.isArray(e.blockHashes)) out.blockHashes = (e.blockHashes as string[]).map(BigInt);
  if ('parentBlockHash' in e) out.parentBlockHash = e.parentBlockHash === null ? null : BigInt(e.parentBlockHash as string);
  return out as unknown as KvCacheEvent;
}

test('the fixture covers every vLLM layout', () => {
  assert.equal(fixture.vectors.length, 12);
});

for (const v of fixture.vectors) {
  test(`vLLM fixture "${v.name}" decodes to the expected events`, () => {
    const d = decodeBatch(Buffer.from(v.payload, 'hex'));
    assert.ok(d.ok, d.ok ? '' : d.error.message);
    assert.deepEqual(d.eventErrors, []);
    assert.equal(d.value.ts, v.expected.ts);
    assert.equal(d.value.dataParallelRank, v.expected.dataParallelRank);
    assert.deepEqual(d.value.events, v.expected.events.map(expectedEvent));
    if (v.frames) {
      const m = decodeMessage(v.frames.map((f) => Buffer.from(f, 'hex')));
      assert.ok(m.ok);
      assert.equal(m.value.topic, v.expected.topic);
      assert.equal(m.value.seq, BigInt(v.expected.seq!));
      assert.deepEqual(m.value.batch, d.value);
    }
  });
}

test('raw digest bytes, u64 ints and signed i64 ints name the same blocks', () => {
  const byName = (n: string) => {
    const d = decodeBatch(Buffer.from(fixture.vectors.find((v) => v.name === n)!.payload, 'hex'));
    assert.ok(d.ok);
    return d.value.events;
  };
  const bytes = byName('raw-digest-bytes')[0];
  const ints = byName('array-with-group-and-spec-kind')[0];
  const signed = byName('signed-i64-hashes')[0];
  assert.equal(bytes.type, 'BlockStored');
  assert.equal(ints.type, 'BlockStored');
  assert.equal(signed.type, 'BlockRemoved');
  assert.deepEqual(bytes.blockHashes, ints.blockHashes);
  assert.deepEqual(signed.blockHashes, ints.blockHashes);
  assert.ok(ints.blockHashes.some((h) => h >= 1n << 63n), 'the vector exercises a hash above 2^63');
});

test("kvgate sim's own encodings (array and map) decode to the events it published", () => {
  const events = [
    { type: 'BlockStored' as const, blockHashes: [1n, (1n << 64n) - 1n], parentBlockHash: null, tokenIds: Array.from({ length: 32 }, (_, i) => i), blockSize: 16, loraId: null, medium: 'GPU' as const, loraName: null },
    { type: 'BlockRemoved' as const, blockHashes: [1n], medium: 'GPU' as const },
    { type: 'AllBlocksCleared' as const },
  ];
  for (const format of ['array', 'map'] as const) {
    const d = decodeBatch(encodeBatch({ ts: 12.5, events }, format));
    assert.ok(d.ok);
    assert.deepEqual(d.eventErrors, []);
    assert.deepEqual(d.value.events, [
      { ...events[0], extraKeys: null, groupIdx: null, kvCacheSpecKind: null, kvCacheSpecSlidingWindow: null },
      { ...events[1], groupIdx: null },
      events[2],
    ]);
  }
});

const cases: [string, unknown, DecodeError['kind']][] = [
  ['unknown tag', ['BlockMoved', [1]], 'unknown_tag'],
  ['unknown map type', { type: 'Nope' }, 'unknown_tag'],
  ['tag not a string', [7, [1]], 'event_shape'],
  ['event is a number', 5, 'event_shape'],
  ['missing fields (array)', ['BlockStored', [1], null], 'missing_field'],
  ['missing fields (map)', { type: 'BlockStored', block_hashes: [1], token_ids: [], block_size: 16 }, 'missing_field'],
  ['hashes not a list', ['BlockRemoved', 'abc'], 'wrong_type'],
  ['hash a float', ['BlockRemoved', [1.5]], 'wrong_type'],
  ['token id negative', ['BlockStored', [1], null, [-1, ...Array(15).fill(0)], 16, null], 'wrong_type'],
  ['block size zero', ['BlockStored', [1], null, [], 0, null], 'wrong_type'],
  ['tokens do not fill the blocks', ['BlockStored', [1, 2], null, [1, 2, 3], 16, null], 'token_count_mismatch'],
  ['medium a number', ['BlockRemoved', [1], 3], 'wrong_type'],
];
for (const [name, event, kind] of cases) {
  test(`a bad event (${name}) is left out with a ${kind} error; the rest of the batch decodes`, () => {
    const good = ['AllBlocksCleared'];
    const d = decodeBatch(encode([1, [event, good], 0], { useBigInt64: true }));
    assert.ok(d.ok);
    assert.deepEqual(d.value.events, [{ type: 'AllBlocksCleared' }]);
    assert.equal(d.eventErrors.length, 1);
    assert.equal(d.eventErrors[0].kind, kind, d.eventErrors[0].message);
  });
}

test('batch-level and frame-level problems are typed errors, counted per kind', () => {
  const counts = new DecodeErrorCounts();
  const bad: [Uint8Array[], DecodeError['kind']][] = [
    [[Buffer.from('t'), Buffer.alloc(8)], 'frame_count'],
    [[Buffer.from('t'), Buffer.alloc(4), Buffer.from(encode([1, [], 0]))], 'sequence_frame'],
    [[Buffer.from('t'), Buffer.alloc(8), Buffer.from([0xc1])], 'msgpack'],
    [[Buffer.from('t'), Buffer.alloc(8), Buffer.from(encode('hello'))], 'batch_shape'],
    [[Buffer.from('t'), Buffer.alloc(8), Buffer.from(encode(['x', [], 0]))], 'batch_shape'],
    [[Buffer.from('t'), Buffer.alloc(8), Buffer.from(encode([1, 'x', 0]))], 'batch_shape'],
    [[Buffer.from('t'), Buffer.alloc(8), Buffer.from(encode([1, [], -1]))], 'batch_shape'],
    // A forged array32 header claiming 2^32−1 elements in a 5-byte payload.
    [[Buffer.from('t'), Buffer.alloc(8), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])], 'msgpack'],
  ];
  for (const [frames, kind] of bad) {
    const m = decodeMessage(frames);
    assert.ok(!m.ok);
    assert.equal(m.error.kind, kind, m.error.message);
    counts.add(m.error);
  }
  assert.equal(counts.total, bad.length);
  assert.equal(counts.counts.batch_shape, 4);
});

const FUZZ = { numRuns: Number(process.env.FUZZ_RUNS ?? 500), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 };

test('fuzz: arbitrary bytes never throw out of the decoder', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 4 }), (frames) => {
      const m = decodeMessage(frames);
      assert.equal(typeof m.ok, 'boolean');
      decodeBatch(frames[0] ?? new Uint8Array());
    }),
    FUZZ,
  );
});

test('fuzz: structurally plausible msgpack batches never throw; every event is decoded or reported', () => {
  const hash = fc.oneof(fc.bigInt({ min: -(1n << 63n), max: (1n << 64n) - 1n }), fc.integer(), fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.double(), fc.constant(null), fc.string());
  const value = fc.oneof(hash, fc.boolean(), fc.array(fc.integer({ min: -2, max: 70_000 }), { maxLength: 40 }), fc.array(hash, { maxLength: 3 }), fc.constantFrom('GPU', 'CPU', 'full_attention'));
  const tag = fc.constantFrom('BlockStored', 'BlockRemoved', 'AllBlocksCleared', 'Other', '');
  const arrayEvent = fc.tuple(tag, fc.array(value, { maxLength: 12 })).map(([t, rest]) => [t, ...rest]);
  const mapEvent = fc
    .tuple(tag, fc.dictionary(fc.constantFrom('block_hashes', 'parent_block_hash', 'token_ids', 'block_size', 'num_toks_per_block', 'medium', 'lora_name', 'lora_id', 'extra_keys', 'group_idx', 'x'), value))
    .map(([t, o]) => ({ type: t, ...o }));
  const event = fc.oneof(arrayEvent, mapEvent, value, fc.anything());
  const batch = fc.oneof(
    fc.tuple(fc.oneof(fc.double(), value), fc.array(event, { maxLength: 5 }), fc.oneof(fc.integer(), fc.constant(null))),
    fc.record({ ts: fc.double(), events: fc.array(event, { maxLength: 5 }), data_parallel_rank: fc.oneof(fc.integer(), fc.constant(null)) }),
    fc.anything(),
  );
  fc.assert(
    fc.property(batch, (b) => {
      let bytes: Uint8Array;
      try {
        bytes = encode(b, { useBigInt64: true });
      } catch {
        return; // not encodable (e.g. a symbol): nothing to decode
      }
      const d = decodeBatch(bytes);
      if (d.ok) {
        const sent = Array.isArray(b) ? b[1] : (b as { events?: unknown }).events;
        assert.equal(d.value.events.length + d.eventErrors.length, (sent as unknown[]).length);
      }
    }),
    FUZZ,
  );
});
