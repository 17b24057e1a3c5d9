import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRouter, loadConfig, kvEventsSettings, parseOpenAIRequest, EXACT_INDEX_MODEL, type KvEventsView, type KvStreamStatus } from '../../src/router/index.js';
import { ExactPrefixIndex, type ExactIndexStoredEvent } from '../../src/router/prefix/exact-prefix-index.js';
import { EstimateTokenizer } from '../../src/shared/tokenizer/estimate.js';
import type { EndpointMetrics, RouteRequest } from '../../src/router/api.js';
import { seeded } from './helpers.js';

const BS = 16;
const tok = new EstimateTokenizer();
const A = '10.0.0.1:8000';
const B = '10.0.0.2:8000';
const C = '10.0.0.3:8000';

/** A view over a real exact index, with stream states the test sets. */
function fakeView(): KvEventsView & { states: Map<string, KvStreamStatus>; store(ep: string, ids: number[], blocks: number, opts?: Partial<ExactIndexStoredEvent>): void } {
  const index = new ExactPrefixIndex();
  const states = new Map<string, KvStreamStatus>();
  let h = 1n;
  return {
    index,
    states,
    status: (id) => states.get(id),
    store(ep, ids, blocks, opts = {}) {
      const hashes = Array.from({ length: blocks }, () => h++);
      index.apply(ep, EXACT_INDEX_MODEL, { type: 'BlockStored', blockHashes: hashes, parentBlockHash: null, tokenIds: ids.slice(0, blocks * BS), blockSize: BS, loraName: null, medium: 'GPU', ...opts });
      const st = states.get(ep);
      if (st) st.batches++;
    },
  };
}

function metrics(now: number): EndpointMetrics {
  return { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 4, updatedAtMs: now };
}

function routerOver(view: KvEventsView | undefined, preset = 'precise') {
  const r = createRouter({ config: loadConfig({ preset }), random: seeded(3), kvEvents: view });
  for (const id of [A, B, C]) {
    r.datastore.upsertEndpoint({ id, host: id.split(':')[0], port: 8000, url: `http://${id}`, labels: {} });
    r.datastore.updateMetrics(id, metrics(0));
  }
  return r;
}

let n = 0;
function request(text: string, over: Partial<RouteRequest> = {}): RouteRequest {
  return { id: `r${n++}`, model: 'm', api: 'completions', prefixText: text, promptTokens: Math.ceil(text.length / 4), stream: false, priority: 0, ...over };
}

/** A prompt of `blocks` full estimate-token blocks plus `extra` tokens, distinct per tag. */
function promptText(tag: string, blocks: number, extra = 1): string {
  let s = '';
  for (let i = 0; i < blocks * BS + extra; i++) s += `${tag}${(i % 997).toString(36)}`.slice(-4).padStart(4, 'x');
  return s;
}

test('exact matches where the stream is live, the approximate index elsewhere; source per endpoint; totalBlocks follows vLLM (n−1)/B', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 0 });
  view.states.set(B, { state: 'replaying', batches: 3 });
  const text = promptText('p', 10, 0); // exactly 160 tokens: at most 9 blocks can hit (the last token is recomputed)
  const ids = tok.encode(text);
  assert.equal(ids.length, 160);
  view.store(A, ids, 10);
  view.store(B, ids, 10);
  const r = routerOver(view);
  const pm = r.matchPrefix(request(text, { promptTokenIds: ids }), 1)!;
  assert.equal(pm.blockTokens, BS);
  assert.equal(pm.totalBlocks, 9);
  assert.equal(pm.matched.get(A), 9, 'capped: vLLM serves at most ⌊(n−1)/B⌋ blocks from the cache');
  assert.equal(pm.matched.get(B), undefined, 'a replaying stream is not trusted; the approximate index knows nothing of B');
  assert.deepEqual(Object.fromEntries(pm.source!), { [A]: 'exact', [B]: 'approx', [C]: 'approx' });
});

test('the approximate fallback learns from picks and is converted into the engines\' block units', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 1 });
  view.store(A, [1, 2, 3], 0); // A is live and knows its block size
  const r = routerOver(view);
  // Queues make C the pick (no prefix anywhere yet).
  for (const id of [A, B]) r.datastore.updateMetrics(id, { ...metrics(0), waitingQueueSize: 5 });
  const text = promptText('q', 20);
  const first = r.pick(request(text), 1);
  assert.equal(first.endpoints[0].id, C);
  r.onFirstToken(first.requestId, 2); // served: a request refused before its first token is taken back
  r.onComplete(first.requestId, 2);
  const pm = r.matchPrefix(request(text), 3)!;
  assert.equal(pm.source!.get(C), 'approx');
  // 20 full 64-character approximate blocks = 20 blocks of 16 estimate tokens.
  assert.equal(pm.matched.get(C), 20);
  assert.equal(pm.matched.get(A), undefined, 'A is exact, and its engine stored nothing of this prompt');
});

test('a stream silent after a pick that must store blocks falls back to approximate until a batch arrives', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 5 });
  view.states.set(B, { state: 'live', batches: 5 });
  view.states.set(C, { state: 'live', batches: 5 });
  const r = createRouter({ config: loadConfig({ text: 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: precise-prefix-cache-scorer\n  parameters: {silentStreamMs: 1000}\n' }), random: seeded(1), kvEvents: view });
  for (const id of [A, B, C]) {
    r.datastore.upsertEndpoint({ id, host: id.split(':')[0], port: 8000, url: `http://${id}`, labels: {} });
    r.datastore.updateMetrics(id, metrics(0));
  }
  const text = promptText('s', 8);
  const pick = r.pick(request(text), 100);
  const ep = pick.endpoints[0].id;
  r.onComplete(pick.requestId, 101);
  assert.equal(r.matchPrefix(request(text), 1000)!.source!.get(ep), 'exact', 'within silentStreamMs');
  assert.equal(r.matchPrefix(request(text), 1200)!.source!.get(ep), 'approx', 'no batch 1.1 s after a pick that had to store blocks');
  const others = [A, B, C].filter((x) => x !== ep);
  for (const o of others) assert.equal(r.matchPrefix(request(text), 1200)!.source!.get(o), 'exact', 'the other streams are not suspected');
  view.store(ep, tok.encode(text), 8);
  const after = r.matchPrefix(request(text), 1300)!;
  assert.equal(after.source!.get(ep), 'exact', 'a batch arrived: live again');
  assert.equal(after.matched.get(ep), 8);
});

test('a stream reset after batches flowed (engine restart) is exact and empty; one that never delivered is not trusted', () => {
  const view = fakeView();
  view.states.set(A, { state: 'waiting', batches: 12 });
  view.states.set(B, { state: 'waiting', batches: 0 });
  const r = routerOver(view);
  const pm = r.matchPrefix(request(promptText('w', 4)), 1)!;
  assert.equal(pm.source!.get(A), 'exact');
  assert.equal(pm.source!.get(B), 'approx');
  assert.equal(r.wantsTokenIds(r.datastore.list()), true);
  view.states.delete(A);
  assert.equal(r.wantsTokenIds(r.datastore.list()), false, 'no live stream among the candidates: no tokenization');
});

test('the LoRA adapter a request names (a listed adapter) keys the lookup, as vLLM\'s lora_name', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 0 });
  view.states.set(B, { state: 'live', batches: 0 });
  const text = promptText('l', 6);
  const ids = tok.encode(text);
  view.store(A, ids, 6, { loraName: 'sql-lora' });
  view.store(B, ids, 6);
  const r = routerOver(view);
  for (const id of [A, B]) r.datastore.setModels(id, [{ id: 'base', raw: {} }, { id: 'sql-lora', parent: 'base', raw: {} }]);
  const lora = r.matchPrefix(request(text, { model: 'sql-lora' }), 1)!;
  assert.equal(lora.matched.get(A), 6);
  assert.equal(lora.matched.get(B), undefined);
  const base = r.matchPrefix(request(text, { model: 'base' }), 1)!;
  assert.equal(base.matched.get(B), 6);
  assert.equal(base.matched.get(A), undefined);
});

test('CPU-tier blocks count at their kvCacheBackendConfigs weight', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 0 });
  const text = promptText('c', 4);
  const ids = tok.encode(text);
  view.store(A, ids, 4, { medium: 'CPU' });
  const cfg = `apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    indexerConfig:
      kvCacheBackendConfigs: [{name: gpu, weight: 1.0}, {name: cpu, weight: 0.5}]
`;
  const r = createRouter({ config: loadConfig({ text: cfg }), random: seeded(1), kvEvents: view });
  r.datastore.upsertEndpoint({ id: A, host: '10.0.0.1', port: 8000, url: `http://${A}`, labels: {} });
  const pick = r.pick(request(text), 1);
  assert.equal(pick.prefixMatch?.matchedBlocks, 2);
  assert.equal(pick.scores[0].byPlugin['precise-prefix-cache-scorer'], 0.5);
  assert.deepEqual(pick.scores[0].prefix, { matchedBlocks: 2, source: 'exact' });
});

test('the precise preset scores matched/total and, with load equal, picks the endpoint that holds the prompt', () => {
  const view = fakeView();
  for (const id of [A, B, C]) view.states.set(id, { state: 'live', batches: 0 });
  const text = promptText('x', 30);
  const ids = tok.encode(text);
  view.store(B, ids, 30);
  view.store(C, ids, 10);
  const r = routerOver(view);
  for (let i = 0; i < 5; i++) {
    const p = r.pick(request(text), 1);
    assert.equal(p.endpoints[0].id, B);
    assert.equal(p.prefixMatch?.source, 'exact');
    const byId = Object.fromEntries(p.scores.map((s) => [s.endpointId, s.byPlugin['precise-prefix-cache-scorer']]));
    assert.equal(byId[B], 1);
    assert.equal(byId[C], 10 / 30);
    assert.equal(byId[A], 0);
    r.onComplete(p.requestId, 2);
  }
});

test('the kvgate preset (predicted TTFT) takes exact matches when the process has KV events, approximate without', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 0 });
  const text = promptText('k', 40);
  view.store(A, tok.encode(text), 40);
  const withEvents = routerOver(view, 'kvgate');
  const p = withEvents.pick(request(text), 1);
  assert.equal(p.endpoints[0].id, A, 'the exact 40-block hit makes A the fastest first token');
  assert.equal(p.prefixMatch?.source, 'exact');
  assert.equal(withEvents.needsTokenIds, true);
  const without = routerOver(undefined, 'kvgate');
  assert.equal(without.needsTokenIds, false);
  assert.equal(without.pick(request(text), 1).prefixMatch?.source, 'approx');
  const gie = routerOver(view, 'gie-default');
  assert.equal(gie.needsTokenIds, false, "GIE's prefix-cache-scorer stays approximate even with KV events");
});

test("with KV events the kvgate preset's approx-prefix-cache-producer becomes the precise producer's fallback, as deep (2,048 blocks)", () => {
  const view = fakeView(); // no endpoint's stream is live: every match comes from the fallback
  const r = routerOver(view, 'kvgate');
  assert.equal(r.needsTokenIds, true, 'the configured approximate producer was replaced by the precise one');
  const text = promptText('d', 600); // 9,601 tokens ≈ 600 blocks of 64 characters, past GIE's 256
  const first = r.pick(request(text), 1);
  assert.equal(first.prefixMatch?.source, 'approx');
  assert.equal(first.prefixMatch?.totalBlocks, Math.floor(text.length / 64));
  r.onFirstToken(first.requestId, 2);
  r.onComplete(first.requestId, 2);
  const again = r.pick(request(text), 3);
  assert.equal(again.endpoints[0].id, first.endpoints[0].id);
  assert.equal(again.prefixMatch?.matchedBlocks, Math.floor(text.length / 64), 'the whole prompt matched, not the first 256 blocks');
});

test("llm-d's precise configs load unchanged, and their KV-event settings are read", () => {
  const guide = `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
  - type: single-profile-handler
  - type: tokenizer
    parameters:
      modelName: Qwen/Qwen3-32B
      udsTokenizerConfig:
        socketFile: /tmp/tokenizer/tokenizer-uds.socket
  - type: precise-prefix-cache-scorer
    parameters:
      tokenProcessorConfig:
        blockSize: 64
      indexerConfig:
        speculativeIndexing: true
        tokenizersPoolConfig:
          modelName: Qwen/Qwen3-32B
          local: null
          hf: null
      kvEventsConfig:
        topicFilter: "kv@"
        concurrency: 4
        discoverPods: false
        zmqEndpoint: "tcp://*:5557"
  - type: kv-cache-utilization-scorer
  - type: queue-scorer
  - type: max-score-picker
schedulingProfiles:
  - name: default
    plugins:
      - pluginRef: precise-prefix-cache-scorer
        weight: 3.0
      - pluginRef: kv-cache-utilization-scorer
        weight: 2.0
      - pluginRef: queue-scorer
        weight: 2.0
      - pluginRef: max-score-picker
`;
  const c = loadConfig({ text: guide });
  assert.deepEqual(kvEventsSettings(c), { bind: 'tcp://*:5557', topicFilter: 'kv@' });
  createRouter({ config: c });
  const producer = `apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
  - type: token-producer
  - type: endpoint-notification-source
  - type: precise-prefix-cache-producer
    parameters:
      tokenProcessorConfig: {blockSizeTokens: 64}
      kvEventsConfig: {discoverPods: true, podDiscoveryConfig: {socketPort: 5556, replaySocketPort: 5559}}
      indexerConfig: {kvBlockIndexConfig: {enableMetrics: true}}
  - type: prefix-cache-scorer
    parameters: {prefixMatchInfoProducerName: precise-prefix-cache-producer}
`;
  const p = loadConfig({ text: producer });
  assert.deepEqual(kvEventsSettings(p), { port: 5556, replayPort: 5559 });
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 0 });
  const r = createRouter({ config: p, kvEvents: view });
  assert.equal(r.needsTokenIds, true, 'the named precise producer fills the prefix-cache-scorer');
  assert.throws(() => loadConfig({ text: producer.replace('blockSizeTokens: 64', 'blockSizeTokens: 64, bogus: 1') }), /bogus/);
});

test('a completions prompt of token ids is matched as those ids (no tokenization)', () => {
  const ids = Array.from({ length: 50 }, (_, i) => 1000 + i);
  const { route } = parseOpenAIRequest('/v1/completions', Buffer.from(JSON.stringify({ model: 'm', prompt: ids })), { requestId: 'x' });
  assert.deepEqual(route.promptTokenIds, ids);
  assert.equal(route.promptTokens, 50);
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 0 });
  view.store(A, ids, 3);
  const r = routerOver(view);
  assert.equal(r.matchPrefix(route, 1)!.matched.get(A), 3);
  const nested = parseOpenAIRequest('/v1/completions', Buffer.from(JSON.stringify({ model: 'm', prompt: [ids] })), { requestId: 'y' }).route;
  assert.deepEqual(nested.promptTokenIds, ids);
  const bad = parseOpenAIRequest('/v1/completions', Buffer.from(JSON.stringify({ model: 'm', prompt: [1, -2, 3] })), { requestId: 'z' }).route;
  assert.equal(bad.promptTokenIds, undefined);
});

test('speculative indexing: a picked request\'s blocks count on its endpoint until the engine\'s events catch up', () => {
  const view = fakeView();
  for (const id of [A, B, C]) view.states.set(id, { state: 'live', batches: 1 });
  view.store(A, [9, 9, 9], 0);
  const text = promptText('spec', 12);
  const ids = tok.encode(text);
  const r = routerOver(view);
  const first = r.pick(request(text, { promptTokenIds: ids }), 1);
  const ep = first.endpoints[0].id;
  // Before any event: a second request with the prompt sees the first one's blocks in flight.
  const during = r.matchPrefix(request(text, { promptTokenIds: ids }), 2)!;
  assert.equal(during.matched.get(ep), 12);
  assert.equal(during.source!.get(ep), 'exact');
  const second = r.pick(request(text, { promptTokenIds: ids }), 3);
  assert.equal(second.endpoints[0].id, ep, 'the second request follows the first instead of computing the prefix elsewhere');
  r.onComplete(second.requestId, 4); // ended before its first token: its entry goes
  r.onFirstToken(first.requestId, 5);
  assert.equal(r.matchPrefix(request(text, { promptTokenIds: ids }), 6)!.matched.get(ep), 12, 'first token seen, no batch yet: still in flight');
  view.states.get(ep)!.batches++; // a batch arrived after the first token: the index speaks for the engine now
  assert.equal(r.matchPrefix(request(text, { promptTokenIds: ids }), 7)!.matched.get(ep), undefined, 'the engine stored nothing (this test sent no BlockStored)');
  const off = createRouter({ config: loadConfig({ text: 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: precise-prefix-cache-scorer\n  parameters: {speculativeIndexing: false}\n' }), random: seeded(1), kvEvents: view });
  off.datastore.upsertEndpoint({ id: A, host: '10.0.0.1', port: 8000, url: `http://${A}`, labels: {} });
  off.pick(request(text, { promptTokenIds: ids }), 1);
  assert.equal(off.matchPrefix(request(text, { promptTokenIds: ids }), 2)!.matched.get(A), undefined, 'speculativeIndexing: false');
  assert.throws(() => loadConfig({ text: 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: precise-prefix-cache-scorer\n  parameters: {speculativeTTL: soon}\n' }), /speculativeTTL: a duration like 500ms, 2s or 1m/);
});

test('matching two different prompts under the same request id (diagnostic probes) never reuses the first one\'s block keys', () => {
  const view = fakeView();
  view.states.set(A, { state: 'live', batches: 1 });
  const first = tok.encode(promptText('one', 8));
  const second = tok.encode(promptText('two', 8));
  view.store(A, first, 8);
  const r = routerOver(view);
  assert.equal(r.matchPrefix(request('x', { id: 'probe', promptTokenIds: first, prefixText: promptText('one', 8) }), 1)!.matched.get(A), 8);
  assert.equal(r.matchPrefix(request('x', { id: 'probe', promptTokenIds: second, prefixText: promptText('two', 8) }), 2)!.matched.get(A), undefined);
});
