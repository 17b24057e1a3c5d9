// Eviction of in-flight sheddable requests for requests of higher priority (GIE's optional
// in-flight eviction): the evictor's choices on their own, then through real sockets — the gateway
// answers 429 evicted-priority (or an SSE error event once streaming), the EPP an ImmediateResponse
// 429, the engine stops generating for the evicted request, and bookkeeping returns to zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SheddableEvictor, type Evictable } from '../../src/router/flowcontrol/index.js';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/server.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig, presetText } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { EnvoyLikeClient, hv, headerOf, type Resp } from '../extproc/client.js';
import { post, waitFor, MODEL } from '../gateway/helpers.js';
import { parsePromText } from '../helpers/prom-text.js';

function fake(endpoint: string | undefined, at: number, log: string[]): Evictable & { name: string } {
  const x = {
    name: `${endpoint}@${at}`,
    slot: -1,
    evictionEndpoint: endpoint,
    dispatchedAtMs: at,
    evicting: false,
    evict: () => void log.push(x.name),
  };
  return x;
}

test('the evictor takes the newest sheddable request of the endpoint, counts evictions under way, and forgets finished ones', () => {
  const ev = new SheddableEvictor();
  const log: string[] = [];
  const a1 = fake('a', 1, log);
  const a2 = fake('a', 2, log);
  const a3 = fake('a', 3, log);
  const b1 = fake('b', 1, log);
  for (const x of [a1, a3, b1, a2]) ev.track(x);
  assert.equal(ev.evictOn('a', 0), 0, 'no excess, no eviction');
  assert.equal(ev.evictOn('a', 2), 2);
  assert.deepEqual(log, ['a@3', 'a@2'], 'newest first (least work lost)');
  assert.equal(ev.pending, 2);
  assert.equal(ev.evictOn('a', 2), 0, 'the two under way already cover an excess of 2');
  ev.release(a3);
  assert.equal(ev.pending, 1);
  assert.equal(ev.evictOn('a', 2), 1, 'one under way, one more needed');
  assert.deepEqual(log, ['a@3', 'a@2', 'a@1']);
  assert.equal(ev.evictOn('a', 5), 0, 'nothing left on a');
  assert.equal(ev.evicted, 3);
  ev.release(b1); // finished normally: not pending, not evictable
  assert.equal(ev.pending, 2);
  assert.equal(ev.evictForQueued(() => true, 5), false, 'no candidate left');
});

test('for a queued request the evictor takes from the allowed endpoint holding most, and no more than the queue needs', () => {
  const ev = new SheddableEvictor();
  const log: string[] = [];
  const xs = [fake('a', 1, log), fake('b', 2, log), fake('b', 3, log), fake('c', 9, log), fake('c', 8, log), fake('c', 7, log), fake(undefined, 10, log)];
  for (const x of xs) ev.track(x);
  assert.equal(ev.evictForQueued((id) => id !== 'c', 1), true);
  assert.deepEqual(log, ['b@3'], "c is not allowed; b holds most; its newest");
  assert.equal(ev.evictForQueued((id) => id !== 'c', 1), false, 'one queued request, one eviction under way');
  assert.equal(ev.evictForQueued(() => true, 2), true);
  assert.deepEqual(log, ['b@3', 'c@9'], 'the request between attempts (no endpoint) is never chosen');
});

async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  return samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)).reduce((a, x) => a + x.value, 0);
}

/**
 * The kvgate preset, with metrics counted fresh for a minute: sheddable requests pass GIE's
 * saturation detector, which treats stale metrics as saturated, so on a busy machine a late scrape
 * would shed them before they are admitted (the admission is not what these tests are about).
 */
const config = () =>
  loadConfig({
    text: `${presetText('kvgate').replace('- type: max-score-picker\n', '- type: max-score-picker\n- {type: utilization-detector, name: sd, parameters: {metricsStalenessThreshold: 60s}}\n')}saturationDetector: {pluginRef: sd}\n`,
  });

/** One replica of 4 batch slots whose tokens take 20 ms each. */
const slowSim = (): Promise<RunningSim> => startSimServer({ port: 0, profile: 'instant', maxNumSeqs: 4, interTokenLatency: 20 });

async function gatewayOver(sim: RunningSim, o: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  const gw = await startGateway({
    port: 0,
    config: config(),
    endpoints: [parseEndpoint(sim.url)],
    healthIntervalMs: 200,
    accessLog: false,
    trustRoutingHeaders: true,
    ...o,
    flowControl: { maxNumSeqsFactor: 1, ...o.flowControl },
  });
  await waitFor(() => gw.router.datastore.list().every((e) => e.metrics?.maxNumSeqs !== undefined && e.models !== undefined));
  return gw;
}

const SHED = { 'x-kvgate-priority': '-1' };
const CRITICAL = { 'x-kvgate-priority': '5' };
const completion = (tokens: number, extra: Record<string, unknown> = {}) => ({ model: MODEL, prompt: 'hello there', max_tokens: tokens, ignore_eos: true, ...extra });

/**
 * Sends sheddable requests one at a time until `n` are in flight, and returns those. A sheddable
 * request is refused (429 rejected-saturated) while a scrape shows a request waiting in the engine
 * (one that arrived between two steps): such refusals are sent again.
 */
async function admitted<T extends { status: number }>(gw: RunningGateway, n: number, send: () => Promise<T>): Promise<Promise<T>[]> {
  const kept: Promise<T>[] = [];
  while (kept.length < n) {
    const r = send();
    let refused = false;
    void r.then((x) => (refused = x.status === 429));
    await waitFor(() => refused || gw.router.datastore.inFlightCount === kept.length + 1);
    if (!refused) kept.push(r);
  }
  return kept;
}

/** A streamed completion through the gateway, resolved once its first event arrived; `done` has the whole text. */
async function streamStarted(url: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; done: Promise<string> }> {
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const reader = r.body!.getReader();
  const first = await reader.read();
  const done = (async () => {
    let text = Buffer.from(first.value ?? []).toString();
    for (let c = await reader.read(); !c.done; c = await reader.read()) text += Buffer.from(c.value).toString();
    return text;
  })();
  return { status: r.status, done };
}

test('gateway: a critical request that would wait behind sheddable ones evicts the newest (429 evicted-priority); the engine stops it; bookkeeping returns to zero', async () => {
  const sim = await slowSim();
  const gw = await gatewayOver(sim);
  try {
    // Sheddable requests may take up to 0.9 × 4 = 3 slots; each would generate 100 tokens (2 s).
    const shed = await admitted(gw, 3, () => post(`${gw.url}/v1/completions`, completion(100), SHED));
    // It takes the last free slot: one sheddable request is evicted so the next critical one finds a slot too.
    const critical = await post(`${gw.url}/v1/completions`, completion(2), CRITICAL);
    assert.equal(critical.status, 200, critical.text);
    const results = await Promise.all(shed);
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 429],
      'the newest sheddable request was evicted',
    );
    const evicted = results[2];
    assert.equal(evicted.headers.get('x-llm-d-request-dropped-reason'), 'evicted-priority');
    assert.equal(evicted.headers.get('retry-after'), '1');
    assert.equal(evicted.json.error.code, 'request_shed');
    assert.match(evicted.json.error.message, /evicted by flow control/);
    assert.equal(await metric(gw.url, 'kvgate_flow_control_evictions_total'), 1);
    // The engine stopped generating for it: fewer tokens than the 3 × 100 + 2 asked for.
    await waitFor(async () => (await metric(sim.url, 'vllm:num_requests_running')) === 0);
    const generated = await metric(sim.url, 'vllm:generation_tokens_total');
    assert.ok(generated < 302, `the engine generated ${generated} tokens`);
    assert.equal(gw.director.inFlight, 0);
    assert.equal(gw.router.datastore.inFlightCount, 0);
    assert.equal(gw.director.flow.evictor!.pending, 0);
  } finally {
    await gw.close();
    await sim.close();
  }
});

test('gateway: a sheddable request already streaming is ended with an SSE error event; --no-evict-sheddable keeps every sheddable request', async () => {
  for (const evict of [true, false]) {
    const sim = await slowSim();
    const gw = await gatewayOver(sim, { flowControl: { evictSheddable: evict } });
    try {
      const [s1, s2, s3] = await Promise.all(await admitted(gw, 3, () => streamStarted(gw.url, completion(60, { stream: true }), SHED)));
      assert.deepEqual([s1.status, s2.status, s3.status], [200, 200, 200]);
      const critical = await post(`${gw.url}/v1/completions`, completion(2), CRITICAL);
      assert.equal(critical.status, 200, critical.text);
      const texts = await Promise.all([s1.done, s2.done, s3.done]);
      if (evict) {
        assert.ok(texts[0].includes('[DONE]') && texts[1].includes('[DONE]'), 'the older two finish');
        const last = texts[2];
        assert.ok(!last.includes('[DONE]'), 'the newest does not');
        const event = JSON.parse(last.trim().split('\n\n').at(-1)!.replace(/^data: /, ''));
        assert.equal(event.error.code, 'request_shed');
        assert.match(event.error.message, /evicted by flow control/);
        assert.equal(await metric(gw.url, 'kvgate_flow_control_evictions_total'), 1);
      } else {
        assert.ok(texts.every((t) => t.includes('[DONE]')), 'eviction off: all finish');
        assert.equal(await metric(gw.url, 'kvgate_flow_control_evictions_total'), 0);
      }
      await waitFor(() => gw.director.inFlight === 0 && gw.router.datastore.inFlightCount === 0);
    } finally {
      await gw.close();
      await sim.close();
    }
  }
});

test('EPP: the evicted sheddable stream gets an ImmediateResponse 429 evicted-priority (GIE’s eviction), the critical one is routed', async () => {
  const sim = await slowSim();
  const epp = await startEppServer({
    host: '127.0.0.1',
    grpcPort: 0,
    grpcHealthPort: 0,
    metricsPort: 0,
    secureServing: false,
    config: config(),
    endpoints: [parseEndpoint(sim.url)],
    healthIntervalMs: 200,
    trustRoutingHeaders: true,
    flowControl: { maxNumSeqsFactor: 1 },
  });
  const client = new EnvoyLikeClient(epp.grpcPort);
  const open = (priority: string) => {
    const stream = (client.client.Process as () => import('@grpc/grpc-js').ClientDuplexStream<unknown, Resp>)();
    const got: Resp[] = [];
    stream.on('data', (r: Resp) => got.push(r));
    stream.on('error', () => undefined);
    stream.write({ request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json'), hv('x-kvgate-priority', priority)] } } });
    stream.write({ request_body: { body: Buffer.from(JSON.stringify(completion(10))), end_of_stream: true } });
    return { stream, got, routed: () => got.some((r) => r.request_headers !== undefined) };
  };
  try {
    await waitFor(() => epp.router.datastore.list().every((e) => e.metrics?.maxNumSeqs !== undefined && e.models !== undefined));
    // Routed and not finished (Envoy has not streamed the response back): each holds a slot.
    const shed: ReturnType<typeof open>[] = [];
    for (let i = 0; i < 3; i++) {
      shed.push(open('-1'));
      await waitFor(shed[i].routed);
    }
    const critical = open('5');
    await waitFor(critical.routed);
    await waitFor(() => shed[2].got.some((r) => r.immediate_response));
    const imm = shed[2].got.find((r) => r.immediate_response)!.immediate_response!;
    assert.equal(imm.status?.code, 429);
    assert.equal(headerOf(imm.headers?.set_headers, 'x-llm-d-request-dropped-reason'), 'evicted-priority');
    assert.match(imm.body ?? '', /evicted by flow control/);
    assert.ok(shed.slice(0, 2).every((s) => !s.got.some((r) => r.immediate_response)), 'the older two keep their slots');
    for (const s of [...shed, critical]) s.stream.end();
    await waitFor(() => epp.director.inFlight === 0 && epp.router.datastore.inFlightCount === 0);
    assert.equal(epp.director.flow.evictor!.evicted, 1);
  } finally {
    client.close();
    await epp.close();
    await sim.close();
  }
});
