import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, loadProfile, VirtualClock, EstimateTokenizer } from '../../src/engine/index.js';
import { SimMetrics } from '../../src/sim/metrics.js';
import { parseEndpointMetrics } from '../../src/datalayer/metrics-parser.js';
import { parseCompletionRequest } from '../../src/sim/completion-request.js';
import { requestBody } from '../../src/bench/runner.js';
import { engineMetrics } from '../../src/simulate/metrics-scrape.js';
import { RequestPreparer } from '../../src/simulate/requests.js';
import { PrefixOracle, TraceBlockOracle } from '../../src/simulate/oracle.js';
import { tracePromptTokenIds } from '../../src/bench/trace.js';
import { createRng } from '../../src/shared/rng.js';
import { parseFleetSpec, buildFleet, describeFleet } from '../../src/simulate/fleet.js';
import { parseSlo, percentileValues } from '../../src/simulate/slo.js';
import { parseStages } from '../../src/simulate/options.js';
import { buildWorkload } from '../../src/bench/workloads.js';
import type { RequestRecord } from '../../src/simulate/run-policy.js';
import { KvgateError } from '../../src/shared/errors.js';

test('modelled scrape equals what the datalayer parses from kvgate sim\'s /metrics for the same engine state', async () => {
  const clock = new VirtualClock(0);
  const engine = createEngine({ profile: loadProfile('qwen2.5-3b-tpu-v6e'), clock, kvCacheSize: 400, maxNumSeqs: 2, kvEvents: false });
  const ids = (n: number, base: number) => Array.from({ length: n }, (_, i) => base + i);
  for (let k = 0; k < 5; k++) engine.submit({ id: `q${k}`, promptTokenIds: ids(300, k * 1000), maxTokens: 50, ignoreEos: true }, { onToken() {}, onFinish() {} });
  clock.run(40); // mid-run: some running, some waiting, blocks in use
  const stats = engine.stats();
  assert.ok(stats.running > 0 && stats.waiting > 0 && stats.kvCacheUsage > 0, JSON.stringify(stats));
  const text = await new SimMetrics(engine, 'm', { legacy: false, maxModelLen: 32768, maxLoras: 0 }).text();
  const viaHttpPath = parseEndpointMetrics(text, 'vllm', 123);
  assert.deepEqual(engineMetrics(engine, 123), viaHttpPath);
});

test('prepared requests: the body kvgate bench sends, the token ids kvgate sim prefills from it', () => {
  const prep = new RequestPreparer('m');
  const tok = new EstimateTokenizer();
  const [completion] = buildWorkload({ workload: 'shared-prefix', seed: 3, numGroups: 1, promptsPerGroup: 1, systemPromptLen: 50, questionLen: 10, outputLen: 5 });
  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello there, how are you?' }];
  const chat = { kind: 'chat' as const, messages, maxTokens: 7 };
  for (const [req, path] of [
    [completion, '/v1/completions'],
    [chat, '/v1/chat/completions'],
  ] as const) {
    const p = prep.prepare(req, req.kind === 'chat' ? messages : undefined);
    assert.equal(p.path, path);
    assert.equal(p.body.toString(), requestBody('m', req, req.kind === 'chat' ? messages : undefined));
    const body = JSON.parse(p.body.toString());
    assert.deepEqual([body.stream, body.ignore_eos, body.stream_options], [true, true, { include_usage: true }]);
    const sim = parseCompletionRequest(req.kind, body as Record<string, unknown>, tok);
    assert.deepEqual(p.promptTokenIds, sim.prompts[0].tokenIds);
    assert.equal(p.maxTokens, req.maxTokens);
  }
  // Completions requests are prepared once per workload request.
  assert.equal(prep.prepare(completion, undefined), prep.prepare(completion, undefined));
});

test('oracle: leading full blocks seen before, capped at (n−1)/B, answers counted from completion', () => {
  const o = new PrefixOracle(4);
  const a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(o.lookupAndAdd(a), 0);
  assert.equal(o.lookupAndAdd([1, 2, 3, 4, 5, 6, 7, 8, 99, 99]), 8);
  assert.equal(o.lookupAndAdd([1, 2, 3, 4, 5, 6, 7, 8]), 4, 'n−1 cap: the last block of an exact repeat is recomputed');
  assert.equal(o.lookupAndAdd([9, 2, 3, 4, 5, 6, 7, 8, 1]), 0, 'a different first block breaks the chain');
  o.add([50, 51, 52, 53, 54, 55, 56, 57]);
  assert.equal(o.lookupAndAdd([50, 51, 52, 53, 54, 55, 56, 57, 58]), 8);
  // Chained: equal later blocks after different first blocks never match.
  assert.equal(o.lookupAndAdd([0, 0, 0, 0, 5, 6, 7, 8, 1]), 0);
  // Millions of keys stay exact.
  const big = new PrefixOracle(16);
  const long = Array.from({ length: 16 * 20_000 + 1 }, (_, i) => i);
  assert.equal(big.lookupAndAdd(long), 0);
  assert.equal(big.lookupAndAdd(long), 16 * 20_000);
});

test('the trace oracle on block ids agrees with the token oracle on the synthesised tokens (partial blocks included)', () => {
  const rnd = createRng(5);
  const records = [
    { hashIds: [1, 2, 3], inputLength: 1100 },
    { hashIds: [1, 2, 3], inputLength: 1200 },
    { hashIds: [1, 2], inputLength: 900 },
    { hashIds: [1, 2, 3, 4], inputLength: 2000 },
    { hashIds: [5, 2], inputLength: 1024 },
  ];
  // Random conversations: each turn extends an earlier one's ids, the last block partial.
  for (let i = 0; i < 200; i++) {
    const base = records[Math.floor(rnd() * records.length)].hashIds;
    const keep = Math.floor(rnd() * (base.length + 1));
    const ids = [...base.slice(0, keep), ...Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => 100 + Math.floor(rnd() * 50))];
    records.push({ hashIds: ids, inputLength: (ids.length - 1) * 512 + 1 + Math.floor(rnd() * 512) });
  }
  const tokens = new PrefixOracle(16);
  const blocks = new TraceBlockOracle(16, 512);
  const hits = records.map((r) => {
    const t = tokens.lookupAndAdd(tracePromptTokenIds({ timestampMs: 0, outputLength: 1, ...r }));
    assert.equal(blocks.lookupAndAdd(r.hashIds, r.inputLength), t, JSON.stringify(r));
    return t;
  });
  assert.deepEqual(hits.slice(0, 5), [0, 1088, 896, 1200, 0]);
  assert.ok(hits.filter((h) => h > 0).length > 100, 'the random turns share prefixes');
});

test('fleet spec: groups, per-group engine flags over global defaults, clear errors', () => {
  const groups = parseFleetSpec('2:qwen3-32b-h100-tp2:kv-cache-size=800,1:llama3-8b-h100:enable-prefix-caching=false', { maxNumSeqs: 64 });
  assert.deepEqual(groups, [
    { count: 2, profile: 'qwen3-32b-h100-tp2', kvCacheSize: 800, maxNumSeqs: 64 },
    { count: 1, profile: 'llama3-8b-h100', maxNumSeqs: 64, enablePrefixCaching: false },
  ]);
  assert.equal(describeFleet(groups), '2 × qwen3-32b-h100-tp2 (max-num-seqs 64, kv-cache-size 800) + 1 × llama3-8b-h100 (max-num-seqs 64, no prefix caching)');
  const fleet = buildFleet(groups, new VirtualClock(0), 5);
  assert.deepEqual(fleet.map((r) => [r.info.id, r.engine.numGpuBlocks, r.engine.maxNumSeqs, r.engine.enablePrefixCaching]), [
    ['sim-0:8000', 800, 64, true],
    ['sim-1:8000', 800, 64, true],
    ['sim-2:8000', 28125, 64, false],
  ]);
  for (const [spec, re] of [
    ['x:instant', /replica count/],
    ['2', /name a profile/],
    ['2:instant:bogus=1', /unknown engine flag "bogus"/],
    ['2:instant:kv-cache-size=-3', /kv-cache-size must be a positive integer/],
  ] as const) {
    assert.throws(() => parseFleetSpec(spec), (e: unknown) => e instanceof KvgateError && re.test(e.message) && e.message.startsWith('--fleet'));
  }
  assert.throws(() => buildFleet(parseFleetSpec('1:no-such-profile'), new VirtualClock(0), 0), /unknown profile "no-such-profile"/);
});

test('SLO and stage flags parse, and name the bad part', () => {
  const slo = parseSlo('ttft_p90=2s,tpot_p99=50ms,e2e=30');
  assert.deepEqual(slo.percentiles, [
    { metric: 'ttft', percentile: 90, maxMs: 2000 },
    { metric: 'tpot', percentile: 99, maxMs: 50 },
  ]);
  assert.deepEqual(slo.request, { e2eMs: 30, ttftMs: 2000, tpotMs: 50 });
  assert.throws(() => parseSlo('latency=3'), /--slo: "latency=3"/);
  assert.throws(() => parseSlo('ttft_p90=soon'), /not a duration/);
  // Each target once; the whole value after the first '='; a percentile out of range says so.
  assert.throws(() => parseSlo('ttft_p90=1s,ttft_p90=2s'), /^KvgateError: --slo: ttft_p90 is given twice \("ttft_p90=1s" and "ttft_p90=2s"\)/);
  assert.throws(() => parseSlo('ttft_p90=1s,ttft_p90.0=2s'), /--slo: ttft_p90\.0 is given twice/);
  assert.throws(() => parseSlo('tpot=50,tpot=60'), /--slo: tpot is given twice/);
  assert.deepEqual(parseSlo('ttft=500,ttft_p90=2s').request, { ttftMs: 500 });
  assert.throws(() => parseSlo('ttft_p90=5=6'), /--slo ttft_p90: "5=6" is not a duration/);
  assert.throws(() => parseSlo('ttft_p100=5'), /--slo ttft_p100: the percentile must be between 0 and 100 \(got 100\)/);
  assert.deepEqual(parseStages('3:60,10.5:30s'), [{ rate: 3, durationS: 60 }, { rate: 10.5, durationS: 30 }]);
  assert.throws(() => parseStages('3-60'), /rate:seconds/);
  assert.throws(() => parseStages('0:60'), /rate:seconds/);
  const rec = (ttftMs: number): RequestRecord => ({ stage: 0, startMs: 0, ok: true, status: 200, ttftMs, e2eMs: ttftMs + 100, promptTokens: 1, cachedTokens: 0, oracleCachedTokens: 0, outputTokens: 11, preemptions: 0 });
  const records = Array.from({ length: 10 }, (_, i) => rec((i + 1) * 100));
  const [ttft, tpot] = percentileValues(records, slo.percentiles);
  assert.equal(ttft.valueMs, 900);
  assert.equal(ttft.met, true);
  assert.equal(tpot.valueMs, 10);
});

test('--fleet reads enable-prefix-caching strictly: vLLM\'s bool forms, bare flags, and an error naming the field otherwise', () => {
  const on = (spec: string) => parseFleetSpec(`1:instant:${spec}`)[0].enablePrefixCaching;
  for (const v of ['true', 'True', '1', 'yes', 'on', 't', 'y']) assert.equal(on(`enable-prefix-caching=${v}`), true, v);
  for (const v of ['false', 'FALSE', '0', 'no', 'off', 'f', 'n']) assert.equal(on(`enable-prefix-caching=${v}`), false, v);
  assert.equal(on('enable-prefix-caching'), true);
  assert.equal(on('no-enable-prefix-caching'), false);
  for (const [spec, re] of [
    ['enable-prefix-caching=flase', /^--fleet: enable-prefix-caching must be true or false .*got "flase"/],
    ['enable-prefix-caching=', /^--fleet: enable-prefix-caching must be true or false .*got ""/],
    ['enable-prefix-caching=2', /^--fleet: enable-prefix-caching must be true or false .*got "2"/],
    ['no-enable-prefix-caching=true', /^--fleet: no-enable-prefix-caching takes no value \(got "true"\)/],
  ] as const) {
    assert.throws(() => parseFleetSpec(`1:instant:${spec}`), (e: unknown) => e instanceof KvgateError && re.test(e.message), spec);
  }
});
