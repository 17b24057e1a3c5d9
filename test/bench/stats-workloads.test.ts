import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile, summarize, poissonGapsMs, seededRandom } from '../../src/bench/stats.js';
import { buildWorkload, textOfTokens } from '../../src/bench/workloads.js';
import { buildReport, tpotOf } from '../../src/bench/report.js';
import { EstimateTokenizer } from '../../src/engine/index.js';
import type { Sample } from '../../src/bench/runner.js';

test('nearest-rank percentiles and summaries on known inputs', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 90), 90);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  const s = summarize([4, 1, 3, 2, NaN]);
  assert.deepEqual([s.count, s.mean, s.p50, s.max], [4, 2.5, 2, 4]);
});

test('Poisson arrivals have the requested mean rate for a seed', () => {
  const gaps = poissonGapsMs(20, 20_000, seededRandom(3));
  const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
  assert.ok(Math.abs(mean - 50) < 1.5, `mean gap ${mean} ms`);
  assert.deepEqual(poissonGapsMs(5, 3, seededRandom(9)), poissonGapsMs(5, 3, seededRandom(9)));
});

test('generated text has exactly the requested tokens by the project tokenizer', () => {
  const tok = new EstimateTokenizer();
  for (const n of [1, 50, 1200]) assert.equal(tok.encode(textOfTokens(n, seededRandom(n))).length, n);
});

test('shared-prefix: groups share exactly their system prompt; lengths as asked', () => {
  const tok = new EstimateTokenizer();
  const reqs = buildWorkload({ workload: 'shared-prefix', seed: 1, numGroups: 4, promptsPerGroup: 5, systemPromptLen: 300, questionLen: 40, outputLen: 7 });
  assert.equal(reqs.length, 20);
  for (const r of reqs) {
    assert.equal(tok.encode(r.prompt!).length, 340);
    assert.equal(r.maxTokens, 7);
  }
  const byGroup = new Map<number, string[]>();
  for (const r of reqs) byGroup.set(r.group!, [...(byGroup.get(r.group!) ?? []), r.prompt!]);
  const systems = [...byGroup.values()].map((ps) => {
    const sys = ps[0].slice(0, 1200);
    assert.ok(ps.every((p) => p.startsWith(sys)), 'same system prompt within a group');
    assert.equal(new Set(ps.map((p) => p.slice(1200))).size, ps.length, 'distinct questions');
    return sys;
  });
  assert.equal(new Set(systems).size, 4, 'groups differ');
});

test('prefix-repetition, multi-turn and random workloads', () => {
  const pr = buildWorkload({ workload: 'prefix-repetition', seed: 2, numRequests: 12, numPrefixes: 3, prefixLen: 64, suffixLen: 16 });
  assert.equal(new Set(pr.map((r) => r.prompt!.slice(0, 256))).size, 3);
  const mt = buildWorkload({ workload: 'multi-turn', seed: 2, numConversations: 2, turns: 3 });
  assert.deepEqual(mt.map((r) => `${r.conversation}:${r.turn}`), ['0:0', '0:1', '0:2', '1:0', '1:1', '1:2']);
  assert.equal(buildWorkload({ workload: 'random', seed: 1, numRequests: 5, inputLen: 10 }).length, 5);
  assert.throws(() => buildWorkload({ workload: 'nope', seed: 1 }), /unknown --workload "nope"/);
});

test('a malformed dataset line is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-ds-'));
  const f = join(dir, 'd.jsonl');
  writeFileSync(f, '{"prompt":"a"}\n{"messages":[{"role":"user","content":"b"}],"max_tokens":3}\n{oops\n');
  assert.throws(() => buildWorkload({ workload: 'dataset', dataset: f, seed: 1 }), /d\.jsonl:3: invalid JSON/);
  writeFileSync(f, '{"prompt":"a"}\n{"text":"b"}\n');
  assert.throws(() => buildWorkload({ workload: 'dataset', dataset: f, seed: 1 }), /d\.jsonl:2: expected a "prompt"/);
});

test('report math: throughput, TPOT, goodput, cache hit %, per-endpoint', () => {
  const mk = (ok: boolean, ttft: number, e2e: number, out: number, ep: string, prompt = 100, cached = 50): Sample => ({ ok, status: ok ? 200 : 503, stage: 0, startMs: 0, ttftMs: ttft, e2eMs: e2e, itlMs: [], outputTokens: out, promptTokens: prompt, cachedTokens: cached, endpoint: ep });
  const samples = [mk(true, 100, 1100, 11, 'a'), mk(true, 300, 1300, 11, 'b', 100, 0), mk(false, 0, 5, 0, 'a')];
  assert.equal(tpotOf(samples[0]), 100);
  const r = buildReport(samples, { label: 'x', config: {}, durationS: 2, slo: { ttftMs: 200 }, partial: false, offered: [null] });
  assert.equal(r.summary.throughput_rps, 1);
  assert.equal(r.summary.goodput_rps, 0.5);
  assert.equal(r.summary.cache_hit_pct, 25);
  assert.deepEqual(r.summary.per_endpoint, { a: 1, b: 1 });
  assert.deepEqual(r.summary.errors_by_status, { '503': 1 });
  assert.equal(r.summary.ttft_ms.mean, 200);
});

test('decode-heavy: unrelated short prompts with long answers (defaults 256 in / 1,024 out)', () => {
  const tok = new EstimateTokenizer();
  const reqs = buildWorkload({ workload: 'decode-heavy', seed: 4, numRequests: 6 });
  assert.equal(reqs.length, 6);
  assert.ok(reqs.every((r) => r.maxTokens === 1024 && tok.encode(r.prompt!).length === 256));
  assert.equal(new Set(reqs.map((r) => r.prompt!.slice(0, 64))).size, 6);
  const custom = buildWorkload({ workload: 'decode-heavy', seed: 4, numRequests: 2, inputLen: 40, outputLen: 3000 });
  assert.deepEqual(custom.map((r) => [tok.encode(r.prompt!).length, r.maxTokens]), [[40, 3000], [40, 3000]]);
});
