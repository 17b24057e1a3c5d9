// Active-active router replicas: two gateways subscribed to the same three engines compute the
// same exact prefix matches, request after request, whichever of them routed the traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimFleet } from '../../src/sim/fleet.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig, parseOpenAIRequest, type EndpointPicker } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } from '../../src/datalayer/kv-events/labels.js';
import { createRng } from '../../src/shared/rng.js';
import { MODEL, post, waitFor } from '../gateway/helpers.js';

const REQUESTS = 1000;

function words(n: number, random: () => number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += `${String.fromCharCode(97 + Math.floor(random() * 26), 97 + Math.floor(random() * 26), 97 + Math.floor(random() * 26))} `;
  return s;
}

function exactMatch(router: EndpointPicker, body: string): Record<string, number> {
  const { route } = parseOpenAIRequest('/v1/chat/completions', Buffer.from(body), { requestId: 'probe' });
  route.promptTokenIds = router.tokenize(route.prefixText);
  const pm = router.matchPrefix(route, performance.now(), router.datastore.list())!;
  const out: Record<string, number> = {};
  for (const [id, src] of pm.source ?? []) {
    assert.equal(src, 'exact', `${id}: every stream live`);
    out[id] = pm.matched.get(id) ?? 0;
  }
  return out;
}

test(`two gateways fed by the same 3 replicas compute identical prefix matches on ${REQUESTS} requests`, { timeout: 600_000 }, async () => {
  // A small KV cache so evictions are part of the history both must agree on.
  const fleet = await startSimFleet({ replicas: 3, basePort: 0, kvEventsBasePort: 0, profile: 'instant', kvCacheSize: 400 });
  const published = fleet.replicas.map(() => 0);
  let removals = 0;
  fleet.replicas.forEach((r, i) =>
    r.engine.onKvEvents((b) => {
      published[i]++;
      for (const e of b.events) if (e.type === 'BlockRemoved') removals++;
    }),
  );
  const endpoints = fleet.replicas.map((r, i) => parseEndpoint(r.url, { [KV_EVENTS_PORT_LABEL]: String(fleet.kvEvents![i].port), [KV_EVENTS_REPLAY_PORT_LABEL]: String(fleet.kvEvents![i].replayPort) }));
  const gws = [
    await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints, healthIntervalMs: 200, accessLog: false }),
    await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints, healthIntervalMs: 200, accessLog: false }),
  ];
  try {
    await waitFor(() => gws.every((g) => g.router.datastore.list().every((e) => e.models !== undefined)));
    // Both subscriptions joined on every engine (late joins are replayed from the engines' buffers).
    let j = 0;
    await waitFor(async () => {
      if (endpoints.every((e) => gws.every((g) => g.kvEvents!.view.status(e.id)?.state === 'live'))) return true;
      for (const e of endpoints) await post(`${e.url}/v1/completions`, { model: MODEL, prompt: `join ${j++} `.repeat(20), max_tokens: 1 });
      return false;
    }, 20_000, 50);
    const random = createRng(7);
    const systems = Array.from({ length: 24 }, () => words(400, random));
    let differing = 0;
    let nonZero = 0;
    for (let i = 0; i < REQUESTS; i++) {
      // Agents: a group's system prompt, then a growing conversation or a fresh question.
      const g = Math.floor(random() * systems.length);
      const messages = [
        { role: 'system', content: systems[g] },
        { role: 'user', content: words(20 + Math.floor(random() * 200), random) },
      ];
      const body = JSON.stringify({ model: MODEL, messages, max_tokens: 2 });
      // Both replicas have applied everything the engines published so far.
      await waitFor(() => endpoints.every((e, k) => gws.every((gw) => gw.kvEvents!.view.status(e.id)!.batches === published[k])), 10_000, 2);
      const [a, b] = gws.map((gw) => exactMatch(gw.router, body));
      if (JSON.stringify(a) !== JSON.stringify(b)) differing++;
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        const diag = gws.map((gw) => ({ stats: gw.kvEvents!.stats(), orphans: gw.kvEvents!.index.counters, streams: gw.kvEvents!.streams() }));
        assert.deepEqual(a, b, `request ${i}: both replicas see the same cache — ${JSON.stringify(diag, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
      }
      if (Object.values(a).some((v) => v > 0)) nonZero++;
      // Traffic alternates between the two gateways (active-active).
      const res = await post(`${gws[i % 2].url}/v1/chat/completions`, body);
      assert.equal(res.status, 200);
    }
    assert.equal(differing, 0);
    // The last response's events may still be on their way to one of the two.
    await waitFor(() => endpoints.every((e, k) => gws.every((gw) => gw.kvEvents!.view.status(e.id)!.batches === published[k])), 10_000, 2);
    assert.ok(removals > 0, 'evictions were part of the history');
    assert.ok(nonZero > REQUESTS / 2, `most requests found cached prefixes (${nonZero} of ${REQUESTS})`);
    const removed = gws[0].kvEvents!.index.counters;
    assert.equal(removed.orphanBlocks, 0);
    assert.equal(gws[0].kvEvents!.stats().events, gws[1].kvEvents!.stats().events, 'the same events applied');
  } finally {
    for (const g of gws) await g.close();
    await fleet.close();
  }
});
