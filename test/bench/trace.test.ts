import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTrace, tracePromptText, tracePromptTokenIds, TRACE_BLOCK_TOKENS } from '../../src/bench/trace.js';
import { traceWorkload } from '../../src/bench/workloads.js';
import { EstimateTokenizer } from '../../src/engine/index.js';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';
import { createHash } from 'node:crypto';
import { TraceBlockOracle } from '../../src/simulate/oracle.js';

function writeTrace(lines: unknown[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-trace-')), 't.jsonl');
  writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return file;
}

test('trace blocks: equal ids are equal text and tokens, different ids differ, lengths exact for the estimate tokenizer', () => {
  const tok = new EstimateTokenizer();
  const a = { timestampMs: 0, inputLength: 1100, outputLength: 5, hashIds: [7, 8, 9] };
  const b = { timestampMs: 0, inputLength: 1300, outputLength: 5, hashIds: [7, 8, 10] };
  const ta = tracePromptText(a);
  const tb = tracePromptText(b);
  assert.equal(tok.encode(ta).length, 1100);
  assert.equal(tok.encode(tb).length, 1300);
  const shared = 2 * TRACE_BLOCK_TOKENS * 4;
  assert.equal(ta.slice(0, shared), tb.slice(0, shared));
  assert.notEqual(ta.slice(shared, shared + 100), tb.slice(shared, shared + 100));
  const ia = tracePromptTokenIds(a);
  const ib = tracePromptTokenIds(b);
  assert.equal(ia.length, 1100);
  assert.deepEqual(ia.slice(0, 1024), ib.slice(0, 1024));
  assert.notDeepEqual(ia.slice(1024, 1100), ib.slice(1024, 1100));
  // Exactly the estimate tokenizer's ids of the text (what kvgate sim and a router's --tokenizer estimate make of it).
  assert.deepEqual(ia, tok.encode(ta));
  assert.deepEqual(ib, tok.encode(tb));
});

test('hash ids up to Number.MAX_SAFE_INTEGER stay distinct: id and id + 2^32 differ in text, tokens and the oracle; ids below 2^32 keep their text', () => {
  const tok = new EstimateTokenizer();
  const one = (id: number) => ({ timestampMs: 0, inputLength: TRACE_BLOCK_TOKENS, outputLength: 1, hashIds: [id] });
  const big = [5 + 2 ** 32, 2 ** 32, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER - 2 ** 32];
  const texts = [5, 0, ...big].map((id) => tracePromptText(one(id)));
  assert.equal(new Set(texts).size, texts.length, 'every id its own text');
  // And no two share even their first 16-token KV block (a prefix match where none should be).
  assert.equal(new Set(texts.map((t) => t.slice(0, 64))).size, texts.length);
  for (const id of big) {
    assert.equal(tracePromptText(one(id)), tracePromptText(one(id)), 'the same id, the same text');
    assert.deepEqual(tracePromptTokenIds(one(id)), tok.encode(tracePromptText(one(id))));
  }
  // Ids below 2^32 (every published trace) synthesise exactly the text they did before.
  const pinned = tracePromptText({ timestampMs: 0, inputLength: 3 * TRACE_BLOCK_TOKENS, outputLength: 1, hashIds: [0, 7, 2 ** 32 - 1] });
  assert.equal(createHash('sha256').update(pinned).digest('hex'), '3dd1b77e139275c98724d10adea2fb7d5ca2df8fbefbb97556379d4fe6401676');
  // The simulator's oracle keys blocks by id: id + 2^32 is not a hit on id.
  const oracle = new TraceBlockOracle(16, TRACE_BLOCK_TOKENS);
  assert.equal(oracle.lookupAndAdd([5, 6], 1024), 0);
  assert.equal(oracle.lookupAndAdd([5 + 2 ** 32, 6], 1024), 0);
  assert.equal(oracle.lookupAndAdd([Number.MAX_SAFE_INTEGER, 6], 1024), 0);
  assert.equal(oracle.lookupAndAdd([5, 6], 1024), 1008, 'the same ids hit');
});

test('readTrace: ids up to Number.MAX_SAFE_INTEGER load; past it (where JSON numbers round) an error names the line and the field', () => {
  const ok = readTrace(writeTrace([`{"timestamp":0,"input_length":513,"output_length":1,"hash_ids":[4294967301,${Number.MAX_SAFE_INTEGER}]}`]));
  assert.deepEqual(ok[0].hashIds, [4_294_967_301, Number.MAX_SAFE_INTEGER]);
  for (const id of ['9007199254740992', '9007199254740993', '1e300']) {
    const file = writeTrace([{ timestamp: 0, input_length: 5, output_length: 1, hash_ids: [1] }, `{"timestamp":1,"input_length":600,"output_length":1,"hash_ids":[2,${id}]}`]);
    assert.throws(() => readTrace(file), (err: unknown) => err instanceof Error && /t\.jsonl:2: "hash_ids"\[1\] is beyond Number\.MAX_SAFE_INTEGER \(9007199254740991\)/.test(err.message), id);
  }
});

test('readTrace validates every line and names it', () => {
  const ok = readTrace(writeTrace([{ timestamp: 50, input_length: 10, output_length: 2, hash_ids: [1] }, { timestamp: 10, input_length: 513, output_length: 0, hash_ids: [1, 2] }]));
  assert.deepEqual(ok.map((r) => r.timestampMs), [10, 50], 'sorted by arrival');
  const reqs = traceWorkload(ok, 2);
  assert.deepEqual(reqs.map((r) => [r.arrivalMs, r.maxTokens]), [[0, 1], [80, 2]]);
  for (const [line, re] of [
    ['not json', /t\.jsonl:1: invalid JSON/],
    [{ timestamp: -1, input_length: 1, output_length: 1, hash_ids: [1] }, /"timestamp" must be/],
    [{ timestamp: 0, input_length: 0, output_length: 1, hash_ids: [] }, /"input_length" must be a positive integer/],
    [{ timestamp: 0, input_length: 5, output_length: 1, hash_ids: ['x'] }, /"hash_ids" must be an array of non-negative integers/],
    [{ timestamp: 0, input_length: 1025, output_length: 1, hash_ids: [1, 2] }, /needs 3 blocks/],
  ] as const) {
    assert.throws(() => readTrace(writeTrace([line])), re);
  }
  assert.throws(() => traceWorkload(ok, 0), /--time-scale must be a positive number/);
});

test('kvgate bench --trace replays a Mooncake trace in real time against kvgate up', async () => {
  const lines = Array.from({ length: 12 }, (_, i) => ({ timestamp: i * 40, input_length: 600 + i, output_length: 4, hash_ids: [0, 100 + i] }));
  const file = writeTrace(lines);
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--preset', 'gie-default', '--json']);
  const { gateway_url } = JSON.parse(await waitForOutput(child, /\{"gateway_url".*\}/, 30_000)) as { gateway_url: string };
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-trace-'));
  try {
    let r;
    for (const deadline = Date.now() + 30_000; ; ) {
      r = await runKvgate(['bench', '--url', gateway_url, '--trace', file, '--time-scale', '0.5', '--trace-window', '100ms', '--out', join(dir, 'r.json')], { timeoutMs: 60_000 });
      if (r.code === 0 || !/not an OpenAI server/.test(r.stderr) || Date.now() > deadline) break; // the gateway lists models after its first health probe
      await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    assert.equal(report.summary.ok, 12);
    assert.equal(report.summary.prompt_tokens, lines.reduce((a, l) => a + l.input_length, 0));
    // Block 0 (512 tokens) is shared: once cached, later requests hit it (the gateway keeps them together).
    assert.ok(report.summary.cached_tokens >= 512 * 6, `cached ${report.summary.cached_tokens}`);
    // 12 arrivals over 12 × 40 ms × 0.5 = 240 ms: windows of 100 ms hold 5, 5 and 2.
    assert.deepEqual(report.stages.map((s: { requests: number; offered_rps: number }) => [s.requests, s.offered_rps]), [[5, 50], [5, 50], [2, 20]]);
  } finally {
    child.kill('SIGTERM');
  }
});
