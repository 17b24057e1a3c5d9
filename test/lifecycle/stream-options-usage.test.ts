// stream_options through the gateway, against a real `kvgate sim` replica: vLLM's
// StreamOptions.include_usage defaults to True once stream_options is present, so `{}` asks for
// the final usage chunk just as `{"include_usage":true}` does. The gateway adds include_usage to
// streams whose client did not ask (for its token counts) and strips that chunk again; what the
// client gets must be what the replica sends it directly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { MODEL, waitFor } from '../gateway/helpers.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';

let sim: RunningSim;
let gw: RunningGateway;
before(async () => {
  // Echo mode: the replica's text depends only on the request, so two streams can be compared.
  sim = await startSimServer({ port: 0, profile: 'instant', mode: 'echo' });
  gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(sim.url)], healthIntervalMs: 100 });
  await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
});
after(async () => {
  await gw.close();
  await sim.close();
});

let seq = 0;
/** The stream `base` answers; the same x-request-id names the response the same on both paths. */
async function stream(base: string, path: string, body: Record<string, unknown>, requestId: string): Promise<string> {
  const r = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': requestId }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  return r.text();
}

/** The replica's stream and the gateway's, for one request, with what legitimately differs (clock second, prefix-cache hits) masked. */
async function bothWays(path: string, body: Record<string, unknown>): Promise<{ direct: string; viaGateway: string }> {
  const id = `so-${seq++}`;
  const mask = (s: string) => s.replace(/"created":\d+/g, '"created":0').replace(/"cached_tokens":\d+/g, '"cached_tokens":0');
  return { direct: mask(await stream(sim.url, path, body, id)), viaGateway: mask(await stream(gw.url, path, body, id)) };
}

interface Chunk {
  choices: unknown[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
const chunks = (sse: string): Chunk[] =>
  sse
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)) as Chunk);
const usageChunks = (sse: string) => chunks(sse).filter((c) => c.choices.length === 0 && c.usage);

const chat = (streamOptions?: Record<string, unknown>) => ({ model: MODEL, messages: [{ role: 'user', content: 'count the tokens of this stream, one two three four five six seven' }], max_tokens: 3, stream: true, ...(streamOptions ? { stream_options: streamOptions } : {}) });
const completion = (streamOptions?: Record<string, unknown>) => ({ model: MODEL, prompt: 'count the tokens of this completion, one two three four five six seven', max_tokens: 2, stream: true, ...(streamOptions ? { stream_options: streamOptions } : {}) });

test('stream_options {} gets exactly the one usage chunk the replica sends, with counts, and the stream is the replica’s', async () => {
  for (const [path, body] of [['/v1/chat/completions', chat({})], ['/v1/completions', completion({})]] as const) {
    const { direct, viaGateway } = await bothWays(path, body);
    assert.equal(usageChunks(direct).length, 1, `the replica sends one usage chunk (${path})`);
    assert.equal(viaGateway, direct, path);
    const [u] = usageChunks(viaGateway);
    assert.ok(u.usage!.prompt_tokens > 0, path);
    assert.equal(u.usage!.completion_tokens, body.max_tokens, path);
  }
});

test('stream_options {"continuous_usage_stats":true} keeps the final usage chunk too', async () => {
  const { direct, viaGateway } = await bothWays('/v1/completions', completion({ continuous_usage_stats: true }));
  assert.equal(viaGateway, direct);
  assert.equal(usageChunks(viaGateway).length, 1);
});

test('the openai client gets usage with stream_options {} through the gateway', async () => {
  const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const s = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'usage please, for this stream of one two three four five six' }], max_tokens: 4, stream: true, stream_options: {} });
  const usages = [];
  for await (const c of s) if (c.usage) usages.push(c.usage);
  assert.equal(usages.length, 1);
  assert.equal(usages[0].completion_tokens, 4);
});

test('include_usage false, and no stream_options, give no usage chunk; the gateway still counts the tokens', async () => {
  const outputTokens = async () => {
    const { samples } = parsePromText(await (await fetch(`${gw.url}/metrics`)).text());
    return sampleValue(samples, 'inference_objective_output_tokens_sum', { model_name: MODEL, target_model_name: MODEL }) ?? 0;
  };
  // include_usage false or null with continuous_usage_stats: no usage anywhere (vLLM needs both for
  // per-chunk usage); the gateway's added include_usage must not switch the per-chunk usage on.
  for (const body of [chat({ include_usage: false }), completion({ include_usage: false }), chat(), completion(), chat({ include_usage: false, continuous_usage_stats: true }), completion({ include_usage: null, continuous_usage_stats: true })]) {
    const before = await outputTokens();
    const { direct, viaGateway } = await bothWays('messages' in body ? '/v1/chat/completions' : '/v1/completions', body);
    assert.equal(usageChunks(direct).length, 0);
    assert.ok(chunks(direct).every((c) => c.usage == null), 'the replica sends no usage at all');
    assert.equal(viaGateway, direct);
    // The request is recorded once its response has ended; the access log and metrics have its tokens.
    await waitFor(async () => (await outputTokens()) === before + body.max_tokens);
  }
});

test('stream and include_usage read as vLLM\'s pydantic bools ("yes", 1, "off"…): the client gets the replica\'s stream, and the gateway counts the tokens', async () => {
  const outputTokens = async () => {
    const { samples } = parsePromText(await (await fetch(`${gw.url}/metrics`)).text());
    return sampleValue(samples, 'inference_objective_output_tokens_sum', { model_name: MODEL, target_model_name: MODEL }) ?? 0;
  };
  // Before, the gateway took `"stream": "yes"` for no stream and `"include_usage": "no"` for a
  // request of usage: it added no include_usage, and those streams' tokens went uncounted.
  for (const [body, usage] of [
    [{ ...completion(), stream: 'yes' }, 0],
    [{ ...chat(), stream: 1 }, 0],
    [completion({ include_usage: 'no' }), 0],
    [chat({ include_usage: 'off' }), 0],
    [chat({ include_usage: 0 }), 0],
    [completion({ include_usage: 'yes' }), 1],
  ] as const) {
    const before = await outputTokens();
    const { direct, viaGateway } = await bothWays('messages' in body ? '/v1/chat/completions' : '/v1/completions', body);
    assert.equal(usageChunks(direct).length, usage, JSON.stringify(body));
    assert.equal(viaGateway, direct, JSON.stringify(body));
    await waitFor(async () => (await outputTokens()) === before + body.max_tokens);
  }
});

test('a stream_options that is not an object reaches the engine as sent and gets its 400, not a stream', async () => {
  for (const so of ['yes', [true]]) {
    const body = JSON.stringify({ ...chat(), stream_options: so });
    const direct = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const via = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    assert.equal(direct.status, 400);
    assert.equal(via.status, 400, JSON.stringify(so));
    assert.deepEqual(((await via.json()) as { error: { param: string } }).error.param, ((await direct.json()) as { error: { param: string } }).error.param);
  }
});

test('a replica that compresses when asked gets identity asked of it: the openai client gets no usage chunk it did not request, and the tokens are counted', async () => {
  // Compresses whenever the request allows it, as a server behind a compressing proxy would.
  let acceptEncoding: string | undefined;
  const upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/v1/models') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model' }] }));
      if (req.url === '/health') return void res.writeHead(200).end();
      if (req.method !== 'POST') return void res.writeHead(404).end(); // /metrics: none here
      acceptEncoding = req.headers['accept-encoding'];
      const asked = (JSON.parse(body) as { stream_options?: { include_usage?: boolean } }).stream_options?.include_usage === true;
      const events = [`data: {"id":"z","object":"chat.completion.chunk","created":1,"model":"${MODEL}","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\n`];
      if (asked) events.push(`data: {"id":"z","object":"chat.completion.chunk","created":1,"model":"${MODEL}","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}\n\n`);
      events.push('data: [DONE]\n\n');
      const gzip = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
      res.writeHead(200, { 'content-type': 'text/event-stream', ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
      res.end(gzip ? gzipSync(events.join('')) : events.join(''));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const g = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(`127.0.0.1:${(upstream.address() as AddressInfo).port}`)], healthIntervalMs: 100, accessLog: false });
  try {
    await waitFor(() => g.router.datastore.list().every((e) => e.models !== undefined));
    const client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'x', defaultHeaders: { 'accept-encoding': 'gzip, deflate' } });
    const stream = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'x' }], stream: true });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    assert.equal(acceptEncoding, 'identity');
    assert.equal(chunks.length, 1, 'only the content chunk: the usage chunk the gateway asked for is taken out');
    assert.equal(chunks[0].choices[0].delta.content, 'hi');
    const { samples } = parsePromText(await (await fetch(`${g.url}/metrics`)).text());
    assert.equal(sampleValue(samples, 'inference_objective_input_tokens_sum', { model_name: MODEL }), 3);
  } finally {
    await g.close();
    await new Promise((r) => upstream.close(r));
  }
});
