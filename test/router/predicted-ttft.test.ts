import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/router/index.js';
import { routerWith, req } from './helpers.js';

const shared = 'S'.repeat(64 * 200); // 200 blocks ≈ 3,200 tokens of shared prefix

function warm(queueOnHolder: number) {
  const r = routerWith([{ queue: 0 }, { queue: 0 }], loadConfig({ preset: 'kvgate' }));
  // First request lands somewhere and makes that endpoint hold the prefix.
  const first = r.pick(req({ prefixText: shared, promptTokens: 3200 }), 10_000);
  const holder = first.endpoints[0].id;
  r.onFirstToken(first.requestId, 10_040);
  r.onComplete(first.requestId, 10_050);
  const other = r.datastore.list().find((e) => e.info.id !== holder)!.info.id;
  // Then the holder reports a queue of `queueOnHolder` requests of ~512 uncached tokens each.
  for (const e of r.datastore.list()) {
    r.datastore.updateMetrics(e.info.id, { waitingQueueSize: e.info.id === holder ? queueOnHolder : 0, runningRequests: 0, kvCacheUsage: 0.1, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: 10_100 });
  }
  const next = r.pick(req({ prefixText: `${shared} new question`, promptTokens: 3210 }), 10_100);
  return { holder, other, chosen: next.endpoints[0].id };
}

test('affinity holds while waiting behind the queue costs less than recomputing the prefix', () => {
  // 3 queued × 512 = 1,536 tokens ahead < 3,200 tokens to recompute elsewhere.
  const r = warm(3);
  assert.equal(r.chosen, r.holder);
});

test('affinity yields once the queue costs more than recomputing', () => {
  // 10 queued × 512 = 5,120 tokens ahead > 3,200 tokens of recompute.
  const r = warm(10);
  assert.equal(r.chosen, r.other);
});

test('tokens dispatched since the last scrape count as load', () => {
  const r = routerWith([{ queue: 0 }, { queue: 0 }], loadConfig({ preset: 'kvgate' }));
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(r.pick(req({ prefixText: `distinct ${i} `.repeat(300), promptTokens: 900 }), 10_000).endpoints[0].id);
  assert.equal(seen.size, 2, 'cold requests spread instead of piling on one endpoint');
});

test('a request finished before the next scrape is no longer load: the follow-up goes to the prefix holder', () => {
  const r = routerWith([{ queue: 0 }, { queue: 0 }, { queue: 0 }], loadConfig({ preset: 'kvgate' }));
  for (let i = 0; i < 20; i++) {
    // No scrape in between: only the router's own bookkeeping can tell the first one is done.
    const first = r.pick(req({ prefixText: `${i} `.repeat(2000), promptTokens: 1000 }), 10_000);
    r.onFirstToken(first.requestId, 10_010);
    r.onComplete(first.requestId, 10_020);
    const next = r.pick(req({ prefixText: `${`${i} `.repeat(2000)} follow-up`, promptTokens: 1005 }), 10_030);
    assert.equal(next.endpoints[0].id, first.endpoints[0].id, `round ${i}`);
    r.onComplete(next.requestId, 10_040);
  }
});

test('the prefill rate is learned from observed TTFTs', () => {
  const r = routerWith([{ queue: 0 }], loadConfig({ preset: 'kvgate' }));
  const a = r.pick(req({ prefixText: 'q'.repeat(40_000), promptTokens: 10_000 }), 0);
  r.onFirstToken(a.requestId, 100); // 10,000 tokens in 100 ms = 100 tokens/ms, 6× the seed rate
  r.onComplete(a.requestId, 200);
  const b = r.pick(req({ prefixText: 'w'.repeat(4000), promptTokens: 1000 }), 300);
  assert.ok(b.scores[0].total > 0);
});

test('a request refused before its first token (over max-model-len) leaves no load behind: the next request sees every replica alike', () => {
  const r = routerWith([{ queue: 0 }, { queue: 0 }, { queue: 0 }], loadConfig({ preset: 'kvgate' }));
  const huge = r.pick(req({ prefixText: 'z'.repeat(200_000), promptTokens: 50_000 }), 10_000);
  const refusedOn = huge.endpoints[0].id;
  // vLLM answers 400 at once: no first token, the request ends.
  r.onComplete(huge.requestId, 10_002);
  const next = r.pick(req({ prefixText: 'an unrelated question '.repeat(40), promptTokens: 200 }), 10_010);
  const ttft = next.scores.map((s) => ({ id: s.endpointId, v: s.byPlugin['predicted-ttft-scorer'] }));
  const mine = ttft.find((s) => s.id === refusedOn)!.v;
  for (const s of ttft) assert.ok(Math.abs(s.v - mine) < 1e-9, `replica ${s.id} scored ${s.v}, the one that refused ${mine}: ${JSON.stringify(ttft)}`);
});

test('the prompt of a refused request is not recorded as cached on the replica that refused it', () => {
  const r = routerWith([{ queue: 0 }, { queue: 0 }], loadConfig({ preset: 'kvgate' }));
  const long = 'a long shared document '.repeat(500);
  const refused = r.pick(req({ prefixText: long, promptTokens: 2900 }), 10_000);
  r.onComplete(refused.requestId, 10_002);
  const follow = r.pick(req({ prefixText: `${long} and a question`, promptTokens: 2905 }), 10_010);
  assert.equal(follow.prefixMatch?.matchedBlocks ?? 0, 0, 'no replica holds a prompt no engine prefilled');
  // The same prompt served (a first token) is recorded as before.
  r.onFirstToken(follow.requestId, 10_020);
  r.onComplete(follow.requestId, 10_030);
  const again = r.pick(req({ prefixText: `${long} and another question`, promptTokens: 2906 }), 10_040);
  assert.equal(again.endpoints[0].id, follow.endpoints[0].id);
  assert.ok((again.prefixMatch?.matchedBlocks ?? 0) > 100);
});
