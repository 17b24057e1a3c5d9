import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate, resolvePolicies, DEFAULT_PATH, type SimulateOptions } from '../../src/simulate/simulate.js';
import { runPolicy, type PathModel, type RequestRecord } from '../../src/simulate/run-policy.js';
import { RequestPreparer } from '../../src/simulate/requests.js';
import { reportJson } from '../../src/simulate/report.js';
import { decodedBatch, readsKvEvents } from '../../src/simulate/kv-events.js';
import { workloadOf } from '../../src/simulate/policy-job.js';
import { loadConfig } from '../../src/router/index.js';
import { encodeBatch } from '../../src/sim/kv-event-publisher.js';
import { decodeBatch } from '../../src/datalayer/kv-events/decoder.js';
import type { KvEventBatch } from '../../src/engine/types.js';
import type { WorkloadOptions } from '../../src/bench/workloads.js';

/**
 * Cache pressure: 2 replicas of 120 blocks (1,920 tokens) each, 8 groups of 800-token prefixes
 * (50 blocks) cycling, one request at a time. A replica holds two or three groups, so prefixes
 * are evicted all the time and a router's own record of where it sent what goes wrong.
 */
const PRESSURE: WorkloadOptions = { workload: 'shared-prefix', seed: 3, numGroups: 8, promptsPerGroup: 5, systemPromptLen: 800, questionLen: 40, outputLen: 8 };
const FLEET = [{ count: 2, profile: 'qwen2.5-3b-tpu-v6e', kvCacheSize: 120 }];
/** Events applied almost at once, so a request picked right after the previous one ended sees every batch. */
const PROMPT_EVENTS: PathModel = { ...DEFAULT_PATH, kvEventLatencyMs: 0.05 };

async function records(policy: string, workload: WorkloadOptions, path: PathModel = PROMPT_EVENTS, fleet = FLEET): Promise<RequestRecord[]> {
  const { reqs, load } = workloadOf({ workload, load: { kind: 'closed', concurrency: 1 } });
  const run = await runPolicy({ policy, config: loadConfig({ preset: policy }), fleet, reqs, load, seed: 3, path, preparer: new RequestPreparer('m') });
  assert.equal(run.records.length, reqs.length);
  assert.ok(run.records.every((r) => r.ok));
  return run.records;
}

test('precise in virtual time: the router matches exactly what the engines will serve, under eviction, where the approximate index is wrong', async () => {
  const precise = await records('precise', PRESSURE);
  // A replica is matched approximately until its stream has delivered a batch (at most its first request), exactly from then on.
  assert.equal(precise[0].matchSource, 'approx');
  const exact = precise.filter((r) => r.matchSource === 'exact');
  assert.ok(exact.length >= precise.length - 2, `${exact.length} of ${precise.length} exact`);
  for (const r of exact) assert.equal(r.routerMatchedTokens, r.cachedTokens, 'the exact index says what the engine holds');
  // The approximate index believes evicted prefixes are still there (or misses what is).
  const approx = await records('gie-default', PRESSURE);
  assert.ok(approx.every((r) => r.matchSource === 'approx'));
  const wrong = approx.filter((r) => r.routerMatchedTokens !== r.cachedTokens);
  assert.ok(wrong.length > 0, 'gie-default matched every request exactly: the workload does not pressure the cache');
  // Knowing the truth places prefixes where they are: at least the approximate hit rate.
  const hit = (rs: RequestRecord[]) => rs.reduce((a, r) => a + r.cachedTokens, 0) / rs.reduce((a, r) => a + r.promptTokens, 0);
  assert.ok(hit(precise) >= hit(approx), `precise ${hit(precise)} vs gie-default ${hit(approx)}`);
});

test('the kvgate preset uses exact matches where events flow, and falls back to its approximate index without them (--no-kv-events)', async () => {
  const withEvents = await records('kvgate', PRESSURE);
  const exact = withEvents.filter((r) => r.matchSource === 'exact');
  assert.ok(exact.length >= withEvents.length - 2, `${exact.length} of ${withEvents.length} exact`);
  for (const r of exact) assert.equal(r.routerMatchedTokens, r.cachedTokens);
  const without = await records('kvgate', PRESSURE, { ...PROMPT_EVENTS, kvEvents: false });
  assert.ok(without.every((r) => r.matchSource === 'approx'));
  // Policies that never read events run without the intake.
  assert.equal(readsKvEvents(loadConfig({ preset: 'gie-default' })), false);
  assert.equal(readsKvEvents(loadConfig({ preset: 'precise' })), true);
  assert.equal(readsKvEvents(loadConfig({ preset: 'kvgate' })), true);
});

test('router-side tokenization agrees with the engines: chat turns (ChatML) and trace prompts synthesised from block ids match exactly', async () => {
  const chat = await records('precise', { workload: 'multi-turn', seed: 2, numConversations: 4, turns: 4, systemPromptLen: 400, questionLen: 40, outputLen: 24 });
  const exactChat = chat.filter((r) => r.matchSource === 'exact');
  assert.ok(exactChat.length >= chat.length - 2, `${exactChat.length} of ${chat.length} exact`);
  for (const r of exactChat) assert.equal(r.routerMatchedTokens, r.cachedTokens);
  // A later turn resends the answer: the engine's decode blocks are matched too.
  assert.ok(exactChat.some((r) => r.cachedTokens > 400 + 40 + 24), 'no turn matched past its first answer');

  const dir = mkdtempSync(join(tmpdir(), 'kvgate-sim-precise-trace-'));
  const file = join(dir, 't.jsonl');
  const lines = [];
  for (let i = 0; i < 12; i++) lines.push(JSON.stringify({ timestamp: i * 2000, input_length: 1100 + i, output_length: 4, hash_ids: [i % 3, 10 + (i % 2), 100 + i] }));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const o: SimulateOptions = {
    fleet: [{ count: 2, profile: 'qwen2.5-3b-tpu-v6e' }],
    policies: resolvePolicies(['precise']),
    workload: PRESSURE,
    trace: { path: file, timeScale: 1, windowS: 60 },
    load: { kind: 'closed', concurrency: 1 },
    seed: 1,
    path: PROMPT_EVENTS,
  };
  const { reqs, load } = workloadOf(o);
  const run = await runPolicy({ policy: 'precise', config: loadConfig({ preset: 'precise' }), fleet: o.fleet, reqs, load, seed: 1, path: o.path, preparer: new RequestPreparer('m') });
  const exactTrace = run.records.filter((r) => r.matchSource === 'exact');
  assert.ok(exactTrace.length >= 10, `${exactTrace.length} of 12 exact`);
  for (const r of exactTrace) assert.equal(r.routerMatchedTokens, r.cachedTokens);
  assert.ok(exactTrace.some((r) => r.cachedTokens >= 1024));
});

test('determinism with KV events: the same seed gives byte-identical JSON for precise and kvgate, in one thread or on workers', async () => {
  const o: SimulateOptions = {
    fleet: [{ count: 3, profile: 'qwen2.5-3b-tpu-v6e', kvCacheSize: 400 }],
    policies: resolvePolicies(['precise', 'kvgate']),
    workload: { workload: 'shared-prefix', seed: 5, numGroups: 6, promptsPerGroup: 5, systemPromptLen: 1500, questionLen: 60, outputLen: 20 },
    load: { kind: 'stages', stages: [{ rate: 8, durationS: 3 }, { rate: 30, durationS: 2 }] },
    seed: 5,
    path: DEFAULT_PATH,
  };
  const a = reportJson(await simulate(o));
  assert.equal(reportJson(await simulate(o)), a);
  assert.equal(reportJson(await simulate(o, undefined, { parallel: 2 })), a);
  // The event delay is part of the model: another delay, another run.
  assert.notEqual(reportJson(await simulate({ ...o, path: { ...DEFAULT_PATH, kvEventLatencyMs: 200 } })), a);
});

test('engine batches reach the intake in the shape the decoder gives kvgate sim\'s bytes', () => {
  const batch: KvEventBatch = {
    ts: 12.5,
    events: [
      { type: 'BlockStored', blockHashes: [123n, 2n ** 63n + 5n], parentBlockHash: null, tokenIds: Array.from({ length: 32 }, (_, i) => i * 7), blockSize: 16, loraId: null, medium: 'GPU', loraName: null },
      { type: 'BlockStored', blockHashes: [9n], parentBlockHash: 2n ** 63n + 5n, tokenIds: Array.from({ length: 16 }, (_, i) => 1000 + i), blockSize: 16, loraId: 1, medium: 'GPU', loraName: 'sql-lora' },
      { type: 'BlockRemoved', blockHashes: [123n, 9n], medium: 'GPU' },
      { type: 'AllBlocksCleared' },
    ],
  };
  for (const format of ['array', 'map'] as const) {
    const d = decodeBatch(Buffer.from(encodeBatch(batch, format)));
    assert.ok(d.ok);
    assert.deepEqual(decodedBatch(batch), d.value, format);
  }
});
