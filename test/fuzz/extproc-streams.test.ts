import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { EnvoyLikeClient, hv, type Resp } from '../extproc/client.js';
import { seeded } from '../router/helpers.js';

// Arbitrary ext_proc message sequences, in any order, as a confused or hostile proxy could send
// them. Every stream must end once the client ends its side (no hang), the process must keep
// routing, and no request may stay counted as in flight.

let epp: RunningEpp;
let client: EnvoyLikeClient;
before(async () => {
  epp = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: loadConfig({ preset: 'kvgate' }), secureServing: false, random: seeded(9), metricsIntervalMs: 3_600_000, healthIntervalMs: 0 });
  epp.router.datastore.setEndpoints([1, 2].map((i) => ({ id: `10.0.0.${i}:8000`, host: `10.0.0.${i}`, port: 8000, url: 'http://127.0.0.1:1', labels: {} })));
  for (const e of epp.router.datastore.list()) epp.router.datastore.updateMetrics(e.info.id, { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 0, updatedAtMs: performance.now() + 3_600_000 });
  client = new EnvoyLikeClient(epp.grpcPort);
});
after(async () => {
  client.close();
  await epp.close();
});

const headerList = fc.array(
  fc.oneof(
    fc.constantFrom(hv(':path', '/v1/completions'), hv(':path', '/v1/chat/completions'), hv(':method', 'POST'), hv(':method', 'GET'), hv('content-type', 'application/json'), hv(':status', '200'), hv('content-type', 'text/event-stream'), hv('x-gateway-destination-endpoint-served', '10.0.0.2:8000')),
    fc.record({ key: fc.string({ maxLength: 20 }), raw_value: fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b)) }),
  ),
  { maxLength: 5 },
);
const bodyBytes = fc.oneof(
  fc.constantFrom('{"model":"m","prompt":"hello"}', '{"model":"m","messages":[{"role":"user","content":"hi"}]}', '{"model":', 'data: {"usage":{"prompt_tokens":3}}\n\n', '{"usage":{"prompt_tokens":1,"completion_tokens":1}}'),
  fc.string({ maxLength: 60 }),
).map((s) => Buffer.from(s));
const message = fc.oneof(
  fc.record({ request_headers: fc.record({ headers: fc.record({ headers: headerList }), end_of_stream: fc.boolean() }) }),
  fc.record({ request_body: fc.record({ body: bodyBytes, end_of_stream: fc.boolean() }) }),
  fc.constant({ request_trailers: {} }),
  fc.record({ response_headers: fc.record({ headers: fc.record({ headers: headerList }), end_of_stream: fc.boolean() }) }),
  fc.record({ response_body: fc.record({ body: bodyBytes, end_of_stream: fc.boolean() }) }),
  fc.constant({ response_trailers: {} }),
);

function run(messages: unknown[]): Promise<{ ended: boolean; responses: Resp[] }> {
  return new Promise((resolve) => {
    const s = client.stream();
    const responses: Resp[] = [];
    const timer = setTimeout(() => {
      s.cancel();
      resolve({ ended: false, responses });
    }, Number(process.env.FUZZ_STREAM_TIMEOUT_MS ?? 5000));
    const done = () => {
      clearTimeout(timer);
      resolve({ ended: true, responses });
    };
    s.on('data', (r: Resp) => responses.push(r));
    s.on('error', done);
    s.on('end', done);
    for (const m of messages) s.write(m);
    s.end();
  });
}

test('arbitrary message sequences end cleanly, release their load, and the EPP keeps routing', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (messages) => {
      const inFlight = () => epp.router.datastore.list().reduce((n, e) => n + e.inFlightRequests, 0);
      const before = inFlight();
      const r = await run(messages);
      assert.ok(r.ended, `stream did not end: ${JSON.stringify(messages)}`);
      // Release happens as the server sees the stream end, which may trail the client's view a little.
      for (let i = 0; i < 50 && inFlight() > before; i++) await new Promise((res) => setTimeout(res, 10));
      assert.equal(inFlight(), before, 'the stream left a request counted in flight');
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 150), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 },
  );
  for (const e of epp.router.datastore.list()) assert.equal(e.inFlightRequests, 0, `${e.info.id} still counts requests in flight`);
  const ok = await client.exchange(
    [{ request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] }, end_of_stream: false } }, { request_body: { body: Buffer.from('{"model":"m","prompt":"alive"}'), end_of_stream: true } }],
    (got) => got.length >= 2,
  );
  assert.match(ok.responses[0].request_headers?.response?.header_mutation?.set_headers?.[0]?.header.key ?? '', /x-gateway-destination-endpoint|content-length/i);
});
