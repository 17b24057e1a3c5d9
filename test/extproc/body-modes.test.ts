// Envoy's real behaviours as protocol cases: each request-body mode, trailers, header-only
// requests and data after end of stream (ext_proc processing_mode.proto; GIE's handlers).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { EnvoyLikeClient, hv, headerOf, type Resp } from './client.js';
import { seeded } from '../router/helpers.js';

let epp: RunningEpp;
let client: EnvoyLikeClient;
before(async () => {
  epp = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config: loadConfig(), secureServing: false, random: seeded(4), metricsIntervalMs: 3_600_000, healthIntervalMs: 0 });
  epp.router.datastore.setEndpoints([1, 2].map((i) => ({ id: `10.1.0.${i}:8000`, host: `10.1.0.${i}`, port: 8000, url: 'http://127.0.0.1:1', labels: {} })));
  client = new EnvoyLikeClient(epp.grpcPort);
});
after(async () => {
  client.close();
  await epp.close();
});

const MODES = { STREAMED: 1, BUFFERED: 2, FULL_DUPLEX_STREAMED: 4 };
const body = JSON.stringify({ model: 'm', prompt: 'route me', max_tokens: 1 });
const reqHeaders = (eos = false, mode?: keyof typeof MODES, withoutWaiting = false) => ({
  request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', eos ? 'GET' : 'POST'), hv('content-type', 'application/json')] }, end_of_stream: eos },
  ...(mode ? { protocol_config: { request_body_mode: MODES[mode], response_body_mode: MODES[mode], send_body_without_waiting_for_header_response: withoutWaiting } } : {}),
});
const bodyMsg = (b: string, eos = true) => ({ request_body: { body: Buffer.from(b), end_of_stream: eos } });
const destOf = (set: { header: { key: string; raw_value?: Buffer; value?: string } }[] | undefined) => headerOf(set, 'x-gateway-destination-endpoint');

test('FULL_DUPLEX_STREAMED (no protocol_config): headers answered after the body, with the destination; the body streams back', async () => {
  const { responses } = await client.exchange([reqHeaders(), bodyMsg(body)], (g) => g.some((r) => r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream));
  assert.ok(destOf(responses[0].request_headers?.response?.header_mutation?.set_headers)?.startsWith('10.1.0.'));
  assert.ok(headerOf(responses[0].request_headers?.response?.header_mutation?.set_headers, 'x-request-id'), 'a request id is injected when the client sent none');
});

test('BUFFERED: headers answered at once; the body answer carries the destination header and metadata', async () => {
  const { responses } = await client.exchange([reqHeaders(false, 'BUFFERED'), bodyMsg(body)], (g) => g.length >= 2);
  assert.deepEqual(responses[0].request_headers?.response ?? {}, {}, 'plain CONTINUE for the headers');
  const common = (responses[1].request_body as { response?: { header_mutation?: { set_headers?: never }; clear_route_cache?: boolean; body_mutation?: unknown } }).response!;
  const dest = destOf(common.header_mutation?.set_headers);
  assert.ok(dest?.startsWith('10.1.0.'));
  assert.equal(common.clear_route_cache, true);
  assert.equal(responses[1].dynamic_metadata?.fields?.['envoy.lb']?.structValue?.fields?.['x-gateway-destination-endpoint']?.stringValue, dest);
  assert.equal(common.body_mutation, undefined, 'an unchanged body is not sent back');
});

test('BUFFERED with a streamed request: the body answer replaces the body (usage asked for), Content-Length follows', async () => {
  const streamed = JSON.stringify({ model: 'm', prompt: 'x', stream: true });
  const { responses } = await client.exchange([reqHeaders(false, 'BUFFERED'), bodyMsg(streamed)], (g) => g.length >= 2);
  const common = (responses[1].request_body as { response?: { header_mutation?: { set_headers?: never }; body_mutation?: { body?: Buffer } } }).response!;
  const newBody = common.body_mutation!.body!.toString();
  assert.match(newBody, /"include_usage":true/);
  assert.equal(headerOf(common.header_mutation?.set_headers, 'content-length'), String(Buffer.byteLength(newBody)));
});

test('STREAMED with send_body_without_waiting_for_header_response: routed on the whole body, each chunk answered unchanged', async () => {
  const { responses } = await client.exchange([reqHeaders(false, 'STREAMED', true), bodyMsg(body.slice(0, 10), false), bodyMsg(body.slice(10))], (g) => g.length >= 3);
  assert.ok(destOf(responses[0].request_headers?.response?.header_mutation?.set_headers)?.startsWith('10.1.0.'));
  assert.deepEqual([responses[1].request_body?.response ?? {}, responses[2].request_body?.response ?? {}], [{}, {}]);
});

test('STREAMED waiting for the headers answer: routed at once without the prompt, later chunks answered', async () => {
  const { responses } = await client.exchange([reqHeaders(false, 'STREAMED'), bodyMsg(body, true)], (g) => g.length >= 2);
  assert.ok(destOf(responses[0].request_headers?.response?.header_mutation?.set_headers)?.startsWith('10.1.0.'));
  assert.deepEqual(responses[1].request_body?.response ?? {}, {});
});

test('trailers end a body that never said end_of_stream: routed, then the trailers answered after the body', async () => {
  const { responses } = await client.exchange([reqHeaders(), bodyMsg(body, false), { request_trailers: { trailers: { headers: [hv('x-t', '1')] } } }], (g) => g.some((r) => r.request_trailers));
  const kinds = responses.map((r) => Object.keys(r).find((k) => k !== 'dynamic_metadata'));
  assert.deepEqual(kinds, ['request_headers', 'request_body', 'request_trailers']);
});

test('a header-only request goes to a random ready endpoint; a second final body chunk is ignored, not an error', async () => {
  const ho = await client.exchange([reqHeaders(true)], (g) => g.length >= 1);
  assert.ok(destOf(ho.responses[0].request_headers?.response?.header_mutation?.set_headers)?.startsWith('10.1.0.'));
  const twice = await client.exchange([reqHeaders(), bodyMsg(body), bodyMsg(body.slice(-5))], (g: Resp[]) => g.some((r) => r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream), false);
  assert.equal(twice.error, undefined);
  const echoed = twice.responses.map((r) => r.request_body?.response?.body_mutation?.streamed_response?.body?.toString() ?? '').join('');
  assert.equal(echoed, body);
});
