// The gateway queue through real sockets: requests over the replicas' capacity wait in a visible
// queue (GIE's metric names), leave it by priority, by TTL, by bounds or when their client goes
// away; the ext_proc stream waits in the same queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway/server.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { EnvoyLikeClient, hv, type Resp } from '../extproc/client.js';
import { post, waitFor, MODEL } from '../gateway/helpers.js';
import { parsePromText } from '../helpers/prom-text.js';

/** Replicas of `seqs` batch slots whose requests take ~20 ms per token. */
async function slowSims(n: number, seqs: number): Promise<RunningSim[]> {
  return Promise.all(Array.from({ length: n }, () => startSimServer({ port: 0, profile: 'instant', maxNumSeqs: seqs, interTokenLatency: 20 })));
}

async function gatewayOver(sims: RunningSim[], o: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  const gw = await startGateway({
    port: 0,
    config: loadConfig({ preset: 'kvgate' }),
    endpoints: sims.map((s) => parseEndpoint(s.url)),
    healthIntervalMs: 200,
    accessLog: false,
    ...o,
    flowControl: { maxNumSeqsFactor: 1, ...o.flowControl },
  });
  // The cap comes from the scraped max_num_seqs: wait until every replica reported it.
  await waitFor(() => gw.router.datastore.list().every((e) => e.metrics?.maxNumSeqs !== undefined && e.models !== undefined));
  return gw;
}

async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  const s = samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s.reduce((a, x) => a + x.value, 0);
}

const completion = (tokens: number, extra: Record<string, unknown> = {}) => ({ model: MODEL, prompt: 'hello there', max_tokens: tokens, ignore_eos: true, ...extra });

test('requests beyond the replicas’ batch slots wait in the gateway queue, visibly, not in the engines; all are served and bookkeeping returns to zero', async () => {
  const sims = await slowSims(2, 2);
  const gw = await gatewayOver(sims);
  try {
    const all = Array.from({ length: 10 }, () => post(`${gw.url}/v1/completions`, completion(10)));
    let maxQueued = 0;
    let engineWaiting = 0;
    let done = false;
    void Promise.all(all).then(() => (done = true));
    await waitFor(async () => {
      maxQueued = Math.max(maxQueued, await metric(gw.url, 'inference_extension_flow_control_queue_size', { priority: '0' }));
      for (const s of sims) engineWaiting = Math.max(engineWaiting, await metric(s.url, 'vllm:num_requests_waiting'));
      return done;
    }, 30_000);
    const res = await Promise.all(all);
    assert.deepEqual(
      res.map((r) => r.status),
      Array(10).fill(200),
    );
    assert.ok(maxQueued >= 1, `the queue was visible in /metrics (max seen ${maxQueued})`);
    // With --max-num-seqs-factor 1 the gateway sends an engine a request only when one of its own
    // finished; the engine frees that slot at its next step, so at most a batch's worth (2) waits
    // there for a moment, while the other 6 of the 10 wait in the gateway.
    assert.ok(engineWaiting <= 2, `an engine had ${engineWaiting} waiting`);
    assert.equal(await metric(gw.url, 'inference_extension_flow_control_queue_size'), 0);
    assert.equal(await metric(gw.url, 'kvgate_endpoint_concurrency_limit'), 4, 'cap = max_num_seqs 2 × 1 per replica');
    const waited = await metric(gw.url, 'inference_extension_flow_control_request_queue_duration_seconds_count', { outcome: 'Dispatched' });
    assert.equal(waited, 10, 'every request is in the queue-duration histogram');
    assert.equal(gw.director.inFlight, 0);
    assert.equal(gw.router.datastore.inFlightCount, 0);
  } finally {
    await gw.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});

test('the queue serves the highest priority first, and flows of a band in turn (trusted fairness ids)', async () => {
  const [sim] = await slowSims(1, 1);
  const gw = await gatewayOver([sim], { trustRoutingHeaders: true });
  try {
    const order: string[] = [];
    const send = (name: string, headers: Record<string, string>, tokens = 2) =>
      post(`${gw.url}/v1/completions`, completion(tokens), headers).then((r) => {
        assert.equal(r.status, 200, r.text);
        order.push(name);
      });
    const holder = send('holder', {}, 30);
    await waitFor(() => gw.router.datastore.inFlightCount === 1);
    const queued = [
      send('a1', { 'x-gateway-inference-fairness-id': 'A' }),
      send('a2', { 'x-gateway-inference-fairness-id': 'A' }),
      send('a3', { 'x-gateway-inference-fairness-id': 'A' }),
      send('b1', { 'x-llm-d-inference-fairness-id': 'B' }),
    ];
    await waitFor(() => gw.director.flow.queue.queuedRequests === 4);
    const urgent = send('urgent', { 'x-kvgate-priority': '5' });
    await waitFor(() => gw.director.flow.queue.queuedRequests === 5);
    assert.deepEqual(
      gw.director.flow.queue.stats().map((b) => [b.priority, b.requests]),
      [
        [5, 1],
        [0, 4],
      ],
    );
    await Promise.all([holder, ...queued, urgent]);
    assert.deepEqual(order, ['holder', 'urgent', 'a1', 'b1', 'a2', 'a3']);
  } finally {
    await gw.close();
    await sim.close();
  }
});

test('a request waits at most --queue-timeout (503 rejected-ttl-expired); a sheddable one is not queued (429); a full queue refuses (503)', async () => {
  const [sim] = await slowSims(1, 1);
  const gw = await gatewayOver([sim], { trustRoutingHeaders: true, flowControl: { queueTimeoutMs: 300, maxQueueRequests: 1 } });
  try {
    const holder = post(`${gw.url}/v1/completions`, completion(100));
    await waitFor(() => gw.router.datastore.inFlightCount === 1);
    const shed = await post(`${gw.url}/v1/completions`, completion(1), { 'x-kvgate-priority': '-1' });
    assert.equal(shed.status, 429);
    assert.equal(shed.headers.get('retry-after'), '1');
    assert.equal(shed.headers.get('x-llm-d-request-dropped-reason'), 'rejected-saturated');
    assert.equal(shed.json.error.code, 'request_shed');
    const expiring = post(`${gw.url}/v1/completions`, completion(1));
    await waitFor(() => gw.director.flow.queue.queuedRequests === 1);
    const refused = await post(`${gw.url}/v1/completions`, completion(1));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('x-llm-d-request-dropped-reason'), 'rejected-saturated');
    assert.equal(refused.json.error.code, 'overloaded');
    assert.ok(refused.headers.get('retry-after'));
    const expired = await expiring;
    assert.equal(expired.status, 503);
    assert.equal(expired.headers.get('x-llm-d-request-dropped-reason'), 'rejected-ttl-expired');
    assert.equal(expired.json.error.code, 'queue_timeout');
    assert.equal((await holder).status, 200);
    assert.equal(await metric(gw.url, 'inference_extension_flow_control_request_queue_duration_seconds_count', { outcome: 'EvictedTTL' }), 1);
    assert.equal(await metric(gw.url, 'inference_extension_flow_control_request_queue_duration_seconds_count', { outcome: 'RejectedCapacity' }), 2);
    assert.equal(gw.director.inFlight, 0);
  } finally {
    await gw.close();
    await sim.close();
  }
});

test('a client that goes away while queued leaves the queue at once and never reaches a replica', async () => {
  const [sim] = await slowSims(1, 1);
  const gw = await gatewayOver([sim]);
  try {
    const holder = post(`${gw.url}/v1/completions`, completion(40));
    await waitFor(() => gw.router.datastore.inFlightCount === 1);
    const ac = new AbortController();
    const gone = fetch(`${gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completion(1)), signal: ac.signal }).catch((e: Error) => e);
    await waitFor(() => gw.director.flow.queue.queuedRequests === 1);
    ac.abort();
    assert.ok((await gone) instanceof Error);
    await waitFor(() => gw.director.flow.queue.queuedRequests === 0);
    assert.equal(gw.router.datastore.inFlightCount, 1, 'still only the holder in flight');
    assert.equal((await holder).status, 200);
    assert.equal(gw.router.stats.picks, 1, 'the cancelled request was never routed');
    assert.equal(await metric(gw.url, 'inference_extension_flow_control_request_queue_duration_seconds_count', { outcome: 'EvictedContextCancelled' }), 1);
    await waitFor(() => gw.director.inFlight === 0);
  } finally {
    await gw.close();
    await sim.close();
  }
});

function streamOf(client: EnvoyLikeClient, body: unknown) {
  const stream = (client.client.Process as () => import('@grpc/grpc-js').ClientDuplexStream<unknown, Resp>)();
  const got: Resp[] = [];
  stream.on('data', (r: Resp) => got.push(r));
  stream.on('error', () => undefined);
  const text = JSON.stringify(body);
  stream.write({ request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } });
  stream.write({ request_body: { body: Buffer.from(text), end_of_stream: true } });
  return { stream, got, routed: () => got.some((r) => r.request_headers !== undefined) };
}

test('the EPP serves from the same queue: an ext_proc stream waits until capacity frees, and a cancelled one leaves', async () => {
  const [sim] = await slowSims(1, 1);
  const epp = await startEppServer({
    host: '127.0.0.1',
    grpcPort: 0,
    grpcHealthPort: 0,
    metricsPort: 0,
    secureServing: false,
    config: loadConfig({ preset: 'kvgate' }),
    endpoints: [parseEndpoint(sim.url)],
    healthIntervalMs: 200,
    flowControl: { maxNumSeqsFactor: 1 },
  });
  const client = new EnvoyLikeClient(epp.grpcPort);
  try {
    await waitFor(() => epp.router.datastore.list().every((e) => e.metrics?.maxNumSeqs !== undefined && e.models !== undefined));
    // Routed and not finished (Envoy has not streamed the response back yet): one in flight = the cap.
    const first = streamOf(client, completion(1));
    await waitFor(first.routed);
    const second = streamOf(client, completion(1));
    const third = streamOf(client, completion(1));
    await waitFor(() => epp.director.flow.queue.queuedRequests === 2);
    assert.equal(second.routed(), false, 'no destination while the replica is at its cap');
    third.stream.cancel();
    await waitFor(() => epp.director.flow.queue.queuedRequests === 1);
    first.stream.end(); // Envoy's stream ends: the request is over, capacity frees
    await waitFor(second.routed);
    assert.equal(third.routed(), false);
    second.stream.end();
    await waitFor(() => epp.director.inFlight === 0 && epp.router.datastore.inFlightCount === 0);
  } finally {
    client.close();
    await epp.close();
    await sim.close();
  }
});

test('a sheddable request refused on an idle pool says why (no batch slot it may take), not "the gateway queue is full"', async () => {
  // One batch slot: its 0.9 share (--sheddable-max-fill) is no slot at all for sheddable requests.
  const sims = await slowSims(1, 1);
  const gw = await gatewayOver(sims, { trustRoutingHeaders: true });
  try {
    const r = await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'x', max_tokens: 1 }, { 'x-kvgate-priority': '-1' });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('x-llm-d-request-dropped-reason'), 'rejected-saturated');
    assert.equal(await metric(gw.url, 'inference_extension_flow_control_queue_size'), 0, 'nothing waited');
    assert.doesNotMatch(r.json.error.message, /queue is full/);
    assert.match(r.json.error.message, /no endpoint has a free batch slot for sheddable requests/);
  } finally {
    await gw.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});
