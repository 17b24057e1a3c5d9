import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import type { EndpointMetrics } from '../../src/router/api.js';
import { EnvoyLikeClient, hv, headerOf, healthAnswer, healthCheck, type Resp } from './client.js';
import { seeded } from '../router/helpers.js';

const NOW = () => performance.now();
let epp: RunningEpp;
let client: EnvoyLikeClient;

/** Pods 192.168.1.{1,2,3}:8000 with metrics given directly, as the EPP's hermetic tests do. */
function setPods(pods: { q: number; kv: number; loras?: string[] }[]) {
  const ds = epp.router.datastore;
  ds.setEndpoints(pods.map((_, i) => ({ id: `192.168.1.${i + 1}:8000`, host: `192.168.1.${i + 1}`, port: 8000, url: `http://127.0.0.1:1`, labels: {} })));
  pods.forEach((p, i) => {
    const m: EndpointMetrics = { waitingQueueSize: p.q, runningRequests: 0, kvCacheUsage: p.kv, activeLoras: p.loras ?? [], waitingLoras: [], maxLoras: 2, updatedAtMs: NOW() + 60_000 };
    ds.updateMetrics(`192.168.1.${i + 1}:8000`, m);
  });
}

const headers = (eos = false, path = '/v1/completions') => ({ request_headers: { headers: { headers: [hv(':path', path), hv(':method', 'POST'), hv('content-type', 'application/json'), hv('x-request-id', `r-${Math.random()}`)] }, end_of_stream: eos } });
const bodyMsg = (b: string | Buffer, eos = true) => ({ request_body: { body: Buffer.isBuffer(b) ? b : Buffer.from(b), end_of_stream: eos } });
const routed = (got: Resp[]) => got.some((r) => r.immediate_response) || got.some((r) => r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream);

before(async () => {
  // GIE's hermetic cases run without flow control (its feature gate is off by default): a lone
  // saturated pod is picked at once instead of the request waiting for it (test/flowcontrol).
  epp = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: loadConfig(), secureServing: false, random: seeded(5), metricsIntervalMs: 3_600_000, healthIntervalMs: 0, flowControl: { enabled: false } });
  client = new EnvoyLikeClient(epp.grpcPort);
});
after(async () => {
  client.close();
  await epp.close();
});

function dest(got: Resp[]) {
  const hdr = headerOf(got[0].request_headers?.response?.header_mutation?.set_headers, 'x-gateway-destination-endpoint');
  const md = got[0].dynamic_metadata?.fields?.['envoy.lb']?.structValue?.fields?.['x-gateway-destination-endpoint']?.stringValue;
  assert.equal(hdr, md, 'header and envoy.lb metadata are equal');
  assert.equal(got[0].request_headers?.response?.clear_route_cache, true);
  return hdr!.split(',')[0];
}

test('routes by queue and KV: (q3,kv.2),(q0,kv.1),(q10,kv.2) → 192.168.1.2:8000, body echoed with Content-Length', async () => {
  setPods([{ q: 3, kv: 0.2 }, { q: 0, kv: 0.1 }, { q: 10, kv: 0.2 }]);
  const body = JSON.stringify({ model: 'm', prompt: 'hello', max_tokens: 5 });
  const { responses } = await client.exchange([headers(), bodyMsg(body)], routed);
  assert.equal(dest(responses), '192.168.1.2:8000');
  assert.equal(headerOf(responses[0].request_headers?.response?.header_mutation?.set_headers, 'content-length'), String(body.length));
  assert.equal(responses[1].request_body?.response?.body_mutation?.streamed_response?.body?.toString(), body);
});

test('a body split across chunks is buffered to end of stream, then routed', async () => {
  setPods([{ q: 3, kv: 0.2 }, { q: 0, kv: 0.1 }, { q: 10, kv: 0.2 }]);
  const { responses } = await client.exchange([headers(), bodyMsg('{"max_tokens":100,"model":"sql-lo', false), bodyMsg('ra-sheddable","prompt":"x"}')], routed);
  assert.equal(dest(responses), '192.168.1.2:8000');
});

test('invalid JSON → ImmediateResponse 400; missing model → 400 with an OpenAI body', async () => {
  setPods([{ q: 0, kv: 0 }]);
  const bad = await client.exchange([headers(), bodyMsg('{not json')], routed);
  assert.equal(bad.responses[0].immediate_response?.status?.code, 400);
  const nomodel = await client.exchange([headers(), bodyMsg('{"prompt":"hello world"}')], routed);
  const ir = nomodel.responses[0].immediate_response!;
  assert.equal(ir.status?.code, 400);
  assert.match(JSON.parse(ir.body!).error.message, /model not found in request body/);
});

test('no pods: a body request → 503 with a drop reason; a header-only request → 500', async () => {
  epp.router.datastore.setEndpoints([]);
  const r = await client.exchange([headers(), bodyMsg('{"model":"m","prompt":"x"}')], routed);
  assert.equal(r.responses[0].immediate_response?.status?.code, 503);
  assert.equal(headerOf(r.responses[0].immediate_response?.headers?.set_headers, 'x-llm-d-request-dropped-reason'), 'rejected-no-endpoints');
  const h = await client.exchange([headers(true, '/v1/models')], (g) => g.length > 0);
  assert.equal(h.responses[0].immediate_response?.status?.code, 500);
});

test('subset hints: best of the subset, a lone pod despite its queue, an empty subset → 503', async () => {
  setPods([{ q: 3, kv: 0.2 }, { q: 0, kv: 0.1 }, { q: 10, kv: 0.2 }]);
  const withSubset = (ips: string[]) => ({ ...bodyMsg('{"model":"m","prompt":"x"}'), metadata_context: { filter_metadata: { 'envoy.lb.subset_hint': { fields: { 'x-gateway-destination-endpoint-subset': { listValue: { values: ips.map((s) => ({ stringValue: s })) } } } } } } });
  assert.equal(dest((await client.exchange([headers(), withSubset(['192.168.1.1:8000', '192.168.1.3:8000'])], routed)).responses), '192.168.1.1:8000');
  assert.equal(dest((await client.exchange([headers(), withSubset(['192.168.1.3'])], routed)).responses), '192.168.1.3:8000');
  const none = await client.exchange([headers(), withSubset([])], routed);
  assert.equal(none.responses[0].immediate_response?.status?.code, 503);
  // A subset given as one string (comma-separated, as the destination header is) is that list, not an empty one.
  const asString = (v: string) => ({ ...bodyMsg('{"model":"m","prompt":"x"}'), metadata_context: { filter_metadata: { 'envoy.lb.subset_hint': { fields: { 'x-gateway-destination-endpoint-subset': { stringValue: v } } } } } });
  assert.equal(dest((await client.exchange([headers(), asString('192.168.1.3:8000')], routed)).responses), '192.168.1.3:8000');
  assert.equal(dest((await client.exchange([headers(), asString('192.168.1.1:8000, 192.168.1.3:8000')], routed)).responses), '192.168.1.1:8000');
});

test('a header-only GET is routed at the header phase to a ready endpoint', async () => {
  setPods([{ q: 0, kv: 0 }, { q: 0, kv: 0 }]);
  const { responses } = await client.exchange([headers(true, '/v1/models')], (g) => g.length > 0);
  assert.match(dest(responses), /^192\.168\.1\.[12]:8000$/);
});

test('a 200 KB prompt comes back in 62,000-byte chunks that reassemble to the input', async () => {
  setPods([{ q: 0, kv: 0 }]);
  const body = Buffer.from(JSON.stringify({ model: 'm', prompt: 'p'.repeat(200 * 1024) }));
  const { responses } = await client.exchange([headers(), bodyMsg(body.subarray(0, 70_000), false), bodyMsg(body.subarray(70_000))], routed);
  const chunks = responses.slice(1).map((r) => r.request_body!.response!.body_mutation!.streamed_response!);
  assert.deepEqual(chunks.map((c) => c.body!.length), [62_000, 62_000, 62_000, body.length - 186_000]);
  assert.deepEqual(chunks.map((c) => Boolean(c.end_of_stream)), [false, false, false, true]);
  assert.ok(Buffer.concat(chunks.map((c) => c.body!)).equals(body));
});

test('response phase: multi-chunk JSON and SSE usage are counted; in-flight load is released', async () => {
  setPods([{ q: 0, kv: 0 }]);
  const ds = epp.router.datastore;
  const run = async (ct: string, parts: string[]) => {
    const s = client.stream();
    const got: Resp[] = [];
    const ended = new Promise<void>((r) => s.on('end', () => r()));
    s.on('data', (d: Resp) => got.push(d));
    s.write(headers());
    s.write(bodyMsg('{"model":"m","prompt":"count me"}'));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ds.list()[0].inFlightRequests, 1);
    s.write({ response_headers: { headers: { headers: [hv(':status', '200'), hv('content-type', ct)] } } });
    parts.forEach((p, i) => s.write({ response_body: { body: Buffer.from(p), end_of_stream: i === parts.length - 1 } }));
    await new Promise((r) => setTimeout(r, 50));
    s.end();
    await ended;
    return got;
  };
  const json = '{"id":"x","choices":[{"text":"hi"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}}';
  const got = await run('application/json', [json.slice(0, 40), json.slice(40)]);
  assert.equal(got.filter((g) => g.response_body).length, 2, 'each response chunk is passed back');
  assert.equal(ds.list()[0].inFlightRequests, 0);
  const sse = ['data: {"choices":[{"text":"a"}]}\n\n', 'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1}}\n\ndata: [DONE]\n\n'];
  await run('text/event-stream', sse);
  assert.equal(ds.list()[0].inFlightRequests, 0);
  const m = await (await fetch(`http://127.0.0.1:${epp.metricsPort}/metrics`)).text();
  assert.match(m, /inference_objective_output_tokens_sum\{model_name="m",target_model_name="m"\} 3/);
  assert.match(m, /inference_pool_ready_pods\{name="kvgate"\} 1/);
});

test('out-of-order messages end the stream with a gRPC error, and a client that disconnects releases its load', async () => {
  setPods([{ q: 0, kv: 0 }]);
  const r = await client.exchange([bodyMsg('{"model":"m"}')], () => false);
  assert.ok(r.error, 'body before headers is a stream error');
  assert.match(r.error!.details, /request_body before request_headers/);
  // Found by the stream fuzz: a response phase before routing used to complete the request early,
  // so the body that followed was dispatched and never released.
  const early = await client.exchange([headers(), { response_body: { body: Buffer.alloc(0), end_of_stream: true } }, bodyMsg('{"model":"m","prompt":"x"}')], () => false);
  assert.match(early.error!.details, /response_body before the request was routed/);
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(epp.router.datastore.list()[0].inFlightRequests, 0);
  const s = client.stream();
  s.on('error', () => {});
  s.on('data', () => {});
  s.write(headers());
  s.write(bodyMsg('{"model":"m","prompt":"then vanish"}'));
  await new Promise((res) => setTimeout(res, 50));
  assert.equal(epp.router.datastore.list()[0].inFlightRequests, 1);
  s.cancel();
  for (let i = 0; i < 50 && epp.router.datastore.list()[0].inFlightRequests > 0; i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(epp.router.datastore.list()[0].inFlightRequests, 0);
});

test('gRPC health answers per service', async () => {
  for (const svc of ['', 'liveness', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor', 'inference-extension']) assert.equal(await healthCheck(epp.grpcHealthPort, svc), 1, svc);
  assert.equal(await healthAnswer(epp.grpcHealthPort, 'nope'), 'grpc:5', 'an unknown service is NOT_FOUND, as the gRPC health protocol says');
});

test('TLS is on by default: a TLS client with the served certificate works, a plaintext client fails', async () => {
  const secure = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: loadConfig(), healthIntervalMs: 0 });
  try {
    secure.router.datastore.setEndpoints([{ id: '10.0.0.1:8000', host: '10.0.0.1', port: 8000, url: 'http://127.0.0.1:1', labels: {} }]);
    const tlsClient = new EnvoyLikeClient(secure.grpcPort, secure.certificate);
    const ok = await tlsClient.exchange([headers(true, '/v1/models')], (g) => g.length > 0);
    assert.equal(dest(ok.responses), '10.0.0.1:8000');
    tlsClient.close();
    const plain = new EnvoyLikeClient(secure.grpcPort);
    const bad = await plain.exchange([headers(true, '/v1/models')], (g) => g.length > 0);
    assert.ok(bad.error, 'plaintext is refused');
    plain.close();
  } finally {
    await secure.close();
  }
});

test('LoRA affinity through ext_proc: the only pod with the adapter wins when queues are equal', async () => {
  const cfg = loadConfig({
    text: 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\n- type: kv-cache-utilization-scorer\n- type: lora-affinity-scorer\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: queue-scorer\n    weight: 2\n  - pluginRef: kv-cache-utilization-scorer\n    weight: 2\n  - pluginRef: lora-affinity-scorer\n    weight: 3\n',
  });
  const lora = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: cfg, secureServing: false, random: seeded(2), metricsIntervalMs: 3_600_000, healthIntervalMs: 0, flowControl: { enabled: false } });
  const c = new EnvoyLikeClient(lora.grpcPort);
  try {
    const ds = lora.router.datastore;
    const pods = [{ kv: 0.2, loras: ['a', 'b'] }, { kv: 0.4, loras: ['a', 'sql-lora'] }, { kv: 0.3, loras: ['a', 'b'] }];
    ds.setEndpoints(pods.map((_, i) => ({ id: `192.168.1.${i + 1}:8000`, host: `192.168.1.${i + 1}`, port: 8000, url: 'http://127.0.0.1:1', labels: {} })));
    pods.forEach((p, i) => ds.updateMetrics(`192.168.1.${i + 1}:8000`, { waitingQueueSize: 10, runningRequests: 0, kvCacheUsage: p.kv, activeLoras: p.loras, waitingLoras: [], maxLoras: 2, updatedAtMs: NOW() + 60_000 }));
    const { responses } = await c.exchange([headers(), bodyMsg('{"model":"sql-lora","prompt":"select"}')], routed);
    assert.equal(dest(responses), '192.168.1.2:8000');
  } finally {
    c.close();
    await lora.close();
  }
});

test('shedding through ext_proc: a sheddable objective on a saturated pool → ImmediateResponse 429 with the drop reason', async () => {
  const shed = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: loadConfig(), secureServing: false, random: seeded(3), metricsIntervalMs: 3_600_000, healthIntervalMs: 0, trustRoutingHeaders: true, objectives: new Map([['batch', -1]]), flowControl: { enabled: false } });
  const c = new EnvoyLikeClient(shed.grpcPort);
  try {
    const ds = shed.router.datastore;
    ds.setEndpoints([{ id: '192.168.1.1:8000', host: '192.168.1.1', port: 8000, url: 'http://127.0.0.1:1', labels: {} }]);
    // Queue 10 is past the utilization detector's threshold of 5: saturated.
    ds.updateMetrics('192.168.1.1:8000', { waitingQueueSize: 10, runningRequests: 0, kvCacheUsage: 0.1, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: NOW() + 60_000 });
    const withObjective = (name: string) => ({ request_headers: { headers: { headers: [...headers().request_headers.headers.headers, hv('x-gateway-inference-objective', name)] }, end_of_stream: false } });
    const dropped = await c.exchange([withObjective('batch'), bodyMsg('{"model":"m","prompt":"x"}')], routed);
    const ir = dropped.responses[0].immediate_response!;
    assert.equal(ir.status?.code, 429);
    assert.equal(headerOf(ir.headers?.set_headers, 'x-llm-d-request-dropped-reason'), 'rejected-saturated');
    const kept = await c.exchange([withObjective('undefined-objective'), bodyMsg('{"model":"m","prompt":"x"}')], routed);
    assert.equal(dest(kept.responses), '192.168.1.1:8000', 'an undefined objective has priority 0: not shed');
  } finally {
    c.close();
    await shed.close();
  }
});
