// Precise prefix routing end to end: real `kvgate sim` replicas publishing KV events over ZeroMQ,
// the gateway and the EPP (through the Envoy harness) each subscribed through its pool runtime.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSimFleet, type RunningSimFleet } from '../../src/sim/fleet.js';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { loadConfig, parseOpenAIRequest, type EndpointPicker } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } from '../../src/datalayer/kv-events/labels.js';
import type { KvEventIntake } from '../../src/datalayer/kv-events/kv-event-intake.js';
import type { EndpointInfo } from '../../src/router/api.js';
import { EnvoyLikeClient } from '../extproc/client.js';
import { throughEnvoy } from '../helpers/envoy-harness.js';
import { MODEL, post, waitFor } from '../gateway/helpers.js';

const BS = 16;

/** A completions prompt of `blocks` full blocks of estimate tokens (4 characters each) plus one token, distinct per tag. */
function prompt(tag: string, blocks: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < tag.length; i++) h = Math.imul(h ^ tag.charCodeAt(i), 0x01000193) >>> 0;
  return Array.from({ length: blocks * BS + 1 }, (_, i) => ((h + i * 7919) % 36 ** 4).toString(36).padStart(4, '0')).join('');
}
const body = (p: string) => JSON.stringify({ model: MODEL, prompt: p, max_tokens: 1 });

function endpointsOf(fleet: RunningSimFleet): EndpointInfo[] {
  return fleet.replicas.map((r, i) => parseEndpoint(r.url, { [KV_EVENTS_PORT_LABEL]: String(fleet.kvEvents![i].port), [KV_EVENTS_REPLAY_PORT_LABEL]: String(fleet.kvEvents![i].replayPort) }));
}

/** The router's exact prefix match of a completions prompt per endpoint, as a pick would see it now. */
function matchOf(router: EndpointPicker, text: string): Map<string, number> {
  const { route } = parseOpenAIRequest('/v1/completions', Buffer.from(body(text)), { requestId: 'probe' });
  route.promptTokenIds = router.tokenize(route.prefixText);
  const pm = router.matchPrefix(route, performance.now(), router.datastore.list());
  const out = new Map<string, number>();
  for (const [id, src] of pm?.source ?? []) if (src === 'exact') out.set(id, pm!.matched.get(id) ?? 0);
  return out;
}

const batchesOf = (k: KvEventIntake | undefined, id: string) => k?.view.status(id)?.batches ?? -1;

let fleet: RunningSimFleet;
let gw: RunningGateway;
let epp: RunningEpp;
let client: EnvoyLikeClient;
const urls = new Map<string, string>();

before(async () => {
  fleet = await startSimFleet({ replicas: 3, basePort: 0, kvEventsBasePort: 0, profile: 'instant' });
  const endpoints = endpointsOf(fleet);
  for (const e of endpoints) urls.set(e.id, e.url);
  gw = await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints, healthIntervalMs: 100, debugScores: true });
  epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: loadConfig({ preset: 'precise' }), endpoints, healthIntervalMs: 100, debugScores: true });
  client = new EnvoyLikeClient(epp.grpcPort);
  await waitFor(() => [gw.router, epp.router].every((r) => r.datastore.list().every((e) => e.models !== undefined)));
  // Subscriptions join (PUB/SUB needs a moment): traffic until every stream is live on both.
  let i = 0;
  await waitFor(async () => {
    if (endpoints.every((e) => [gw, epp].every((x) => x.kvEvents!.view.status(e.id)?.state === 'live'))) return true;
    for (const e of endpoints) await post(`${e.url}/v1/completions`, body(prompt(`join${i++}`, 1)));
    return false;
  }, 20_000, 50);
});
after(async () => {
  client.close();
  await gw.close();
  await epp.close();
  await fleet.close();
});

test('gateway and EPP route a shared prefix by the engines\' own events, and predict vLLM\'s cached_tokens exactly', async () => {
  const p = prompt('shared', 12);
  const first = await post(`${gw.url}/v1/completions`, body(p));
  assert.equal(first.status, 200);
  const r = first.headers.get('x-gateway-destination-endpoint-served')!;
  for (const x of [gw, epp]) await waitFor(() => matchOf(x.router, p).get(r) === 12);
  const again = await post(`${gw.url}/v1/completions`, body(p));
  assert.equal(again.headers.get('x-gateway-destination-endpoint-served'), r, 'the gateway follows the exact match');
  assert.equal(again.json.usage.prompt_tokens_details.cached_tokens, 12 * BS);
  const scores = JSON.parse(again.headers.get('x-kvgate-scores')!) as { endpoint: string; prefix: { blocks: number; source: string } }[];
  assert.deepEqual(scores.find((s) => s.endpoint === r)!.prefix, { blocks: 12, of: 12, source: 'exact' });
  const viaEnvoy = await throughEnvoy(client, { path: '/v1/completions', body: body(p) }, (id) => urls.get(id)!);
  assert.equal(viaEnvoy.status, 200);
  assert.equal(viaEnvoy.destination?.split(',')[0], r, 'the EPP picks the same replica from the same events');
  assert.equal((JSON.parse(viaEnvoy.body.toString()) as { usage: { prompt_tokens_details: { cached_tokens: number } } }).usage.prompt_tokens_details.cached_tokens, 12 * BS);
});

test('after POST /reset_prefix_cache on one replica, its match drops to zero within one event batch, on the gateway and on the EPP', async () => {
  const p = prompt('reset-me', 9);
  const res = await post(`${gw.url}/v1/completions`, body(p));
  const r = res.headers.get('x-gateway-destination-endpoint-served')!;
  for (const x of [gw, epp]) await waitFor(() => matchOf(x.router, p).get(r) === 9);
  const before = [gw, epp].map((x) => batchesOf(x.kvEvents, r));
  const reset = await fetch(`${urls.get(r)}/reset_prefix_cache`, { method: 'POST' });
  assert.equal(reset.status, 200);
  for (const [i, x] of [gw, epp].entries()) {
    await waitFor(() => batchesOf(x.kvEvents, r) > before[i]);
    assert.equal(batchesOf(x.kvEvents, r), before[i] + 1, 'exactly one batch arrived');
    assert.equal(matchOf(x.router, p).get(r), 0, 'the match is gone with that batch');
    assert.equal(x.kvEvents!.index.blocks(r), 0);
  }
  const after = await post(`${urls.get(r)}/v1/completions`, body(p));
  assert.equal(after.json.usage.prompt_tokens_details.cached_tokens, 0, 'the engine agrees: nothing cached');
});

test('/metrics of the gateway and of the EPP carry the KV-event intake and the exact/approximate decisions', async () => {
  await post(`${gw.url}/v1/completions`, body(prompt('metrics', 3)));
  await throughEnvoy(client, { path: '/v1/completions', body: body(prompt('metrics', 3)) }, (id) => urls.get(id)!);
  for (const url of [`${gw.url}/metrics`, `http://127.0.0.1:${epp.metricsPort}/metrics`]) {
    const text = await (await fetch(url)).text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
    assert.ok(value(/^kvgate_kv_events_received_total (\d+)/m) > 0, `${url}: messages received`);
    assert.ok(value(/^kvgate_kv_events_decoded_total (\d+)/m) > 0, `${url}: events decoded`);
    assert.ok(value(/^kvgate_prefix_match_source_total\{source="exact"\} (\d+)/m) > 0, `${url}: exact decisions`);
    assert.match(text, /^kvgate_kv_events_stream_state\{endpoint="[^"]+",state="live"\} 1$/m);
    assert.match(text, /^kvgate_kv_index_blocks\{endpoint="[^"]+"\} \d+$/m);
    assert.match(text, /^kvgate_kv_events_lag_seconds_count \d+$/m);
    assert.match(text, /^kvgate_kv_events_sequence_gaps_total 0$/m);
    assert.match(text, /^kvgate_kv_events_replays_total\{outcome="requested"\} \d+$/m);
    assert.match(text, /^kvgate_kv_events_dropped_total\{reason="held_overflow"\} 0$/m);
    assert.match(text, /^kvgate_tokenize_duration_seconds_count [1-9]\d*$/m);
  }
});

test('evictions under KV pressure are reflected: the exact match equals what the engine then serves from its cache', async () => {
  // One small replica: 48 blocks of KV cache, so each 20-block prompt pushes older ones out.
  const small = await startSimFleet({ replicas: 1, basePort: 0, kvEventsBasePort: 0, profile: 'instant', kvCacheSize: 48 });
  const [ep] = endpointsOf(small);
  // The engine runs in this process: count what it publishes, to know when the gateway has applied it all.
  const published = { batches: 0 };
  small.replicas[0].engine.onKvEvents(() => published.batches++);
  const g = await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints: [ep], healthIntervalMs: 100 });
  try {
    let j = 0;
    await waitFor(async () => {
      if (g.kvEvents!.view.status(ep.id)?.state === 'live') return true;
      await post(`${ep.url}/v1/completions`, body(prompt(`join-small${j++}`, 1)));
      return false;
    }, 20_000, 50);
    const target = prompt('target', 20);
    await post(`${g.url}/v1/completions`, body(target));
    await waitFor(() => matchOf(g.router, target).get(ep.id) === 20);
    // Other prompts straight to the engine (traffic another router sent): the gateway learns of
    // the evictions only from the engine's events. vLLM evicts a freed chain from its tail.
    const seen: number[] = [];
    for (let k = 0; k < 3; k++) {
      const other = await post(`${ep.url}/v1/completions`, body(prompt(`filler${k}`, 20)));
      assert.equal(other.status, 200);
      await waitFor(() => g.kvEvents!.view.status(ep.id)!.batches === published.batches);
      seen.push(matchOf(g.router, target).get(ep.id) ?? 0);
    }
    assert.ok(seen[seen.length - 1] < 20, `evictions were seen (${seen.join(', ')})`);
    for (let k = 1; k < seen.length; k++) assert.ok(seen[k] <= seen[k - 1], `a chain only shrinks without new traffic for it (${seen.join(', ')})`);
    // The engine then serves from its cache exactly what the index predicted.
    const probe = await post(`${g.url}/v1/completions`, body(target));
    assert.equal(probe.json.usage.prompt_tokens_details.cached_tokens, seen[seen.length - 1] * BS);
    assert.ok(g.kvEvents!.stats().events > 0);
  } finally {
    await g.close();
    await small.close();
  }
});

test('a replica restart resets its entries: the new engine\'s first batch clears what the old one held', async () => {
  const one = await startSimFleet({ replicas: 1, basePort: 0, kvEventsBasePort: 0, profile: 'instant' });
  const [ep] = endpointsOf(one);
  const kv = one.kvEvents![0];
  const g = await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints: [ep], healthIntervalMs: 100 });
  let second: RunningSim | undefined;
  try {
    const old = prompt('before-restart', 8);
    let j = 0;
    await waitFor(async () => {
      await post(`${ep.url}/v1/completions`, body(j++ === 0 ? old : prompt(`again${j}`, 1)));
      return matchOf(g.router, old).get(ep.id) === 8;
    }, 20_000, 50);
    const restartsBefore = g.kvEvents!.stats().restarts;
    await one.close();
    // Same HTTP and KV-event ports (the endpoint's identity); ZeroMQ frees ports asynchronously, so retry.
    for (let attempt = 0; !second; attempt++) {
      try {
        second = await startSimServer({ port: ep.port, profile: 'instant', kvEventsEndpoint: `tcp://*:${kv.port}`, kvEventsReplayEndpoint: `tcp://*:${kv.replayPort}` });
      } catch (err) {
        if (attempt > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // New prompts (each stores new blocks, so each is a batch) until the subscriber has joined the new engine.
    let fresh = '';
    await waitFor(async () => {
      if (g.kvEvents!.stats().restarts > restartsBefore) return true;
      fresh = prompt(`after-restart-${j++}`, 3);
      await post(`${ep.url}/v1/completions`, body(fresh));
      return false;
    }, 20_000, 100);
    await waitFor(() => matchOf(g.router, fresh).get(ep.id) === 3);
    assert.equal(matchOf(g.router, old).get(ep.id), 0, 'the old engine\'s blocks are gone');
    // The restart failed the gateway's health checks; its probe marks the replica healthy again on its own schedule.
    await waitFor(() => g.router.datastore.list().every((e) => e.healthy));
    const probe = await post(`${g.url}/v1/completions`, body(old));
    assert.equal(probe.status, 200, JSON.stringify(probe.json));
    assert.equal(probe.json.usage.prompt_tokens_details.cached_tokens, 0);
  } finally {
    await g.close();
    await second?.close();
    await one.close();
  }
});
