// Front-door hygiene: what Node's HTTP parser rejects still gets an OpenAI error body; vLLM's
// utility endpoints are served through the gateway; HEAD works on health endpoints everywhere.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { connect } from 'node:net';
import { request as httpRequest, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fleetWithGateway, MODEL, post, waitFor } from './helpers.js';
import { startGateway } from '../../src/gateway/server.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';

let env: Awaited<ReturnType<typeof fleetWithGateway>>;
before(async () => {
  env = await fleetWithGateway(2);
});
after(() => env.close());

function raw(text: string): Promise<string> {
  const u = new URL(env.gateway.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

for (const [name, request, status] of [
  ['a malformed request line', 'GARBAGE\r\n\r\n', 400],
  ['both Content-Length and Transfer-Encoding (a smuggling shape)', 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['headers over the size limit', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
] as const) {
  test(`${name} → ${status} with an OpenAI error body`, async () => {
    const out = await raw(request);
    assert.match(out, new RegExp(`^HTTP/1.1 ${status} `));
    const body = JSON.parse(out.slice(out.indexOf('\r\n\r\n') + 4)) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  });
}

test('/tokenize and /version are served through the gateway, routed to a replica serving the model', async () => {
  const t = await post(`${env.gateway.url}/tokenize`, { model: MODEL, prompt: 'abcdefgh' });
  assert.equal(t.status, 200, t.text);
  assert.ok(Array.isArray(t.json.tokens) && t.json.tokens.length > 0);
  assert.ok(env.fleet.replicas.some((r) => t.headers.get('x-gateway-destination-endpoint-served') === `127.0.0.1:${r.port}`));
  assert.equal((await post(`${env.gateway.url}/tokenize`, { model: 'org/none', prompt: 'x' })).status, 404);
  const v = await fetch(`${env.gateway.url}/version`);
  assert.equal(v.status, 200);
  assert.equal(typeof ((await v.json()) as { version?: unknown }).version, 'string');
});

test('/tokenize and /detokenize without a model (optional in vLLM\'s protocol, as on kvgate sim) go to a ready replica, not a 400', async () => {
  for (const model of [undefined, null, '']) {
    const t = await post(`${env.gateway.url}/tokenize`, { model, prompt: 'abcdefgh' });
    assert.equal(t.status, 200, t.text);
    assert.ok(env.fleet.replicas.some((r) => t.headers.get('x-gateway-destination-endpoint-served') === `127.0.0.1:${r.port}`));
    const d = await post(`${env.gateway.url}/detokenize`, { model, tokens: t.json.tokens });
    assert.equal(d.status, 200, d.text);
    assert.equal(typeof d.json.prompt, 'string');
  }
  // Where the gateway does need a model to pick a replica, it still says so.
  const e = await post(`${env.gateway.url}/v1/embeddings`, { input: 'x' });
  assert.equal(e.status, 400);
  assert.equal(e.json.error.param, 'model');
});

test('utility requests without an x-request-id get distinct ids, also two in the same millisecond', async () => {
  // vLLM names engine requests after X-Request-Id (embd-<id>-<i>), so two requests sharing an id
  // can collide upstream. The clock is held still to make "the same millisecond" certain.
  const now = Date.now;
  const frozen = now();
  Date.now = () => frozen;
  try {
    const ids = new Set<string | null>();
    for (let i = 0; i < 3; i++) {
      const r = await post(`${env.gateway.url}/v1/embeddings`, { model: MODEL, input: 'x' });
      assert.equal(r.status, 200, r.text);
      ids.add(r.headers.get('x-request-id'));
    }
    assert.ok(!ids.has(null));
    assert.equal(ids.size, 3, [...ids].join(', '));
  } finally {
    Date.now = now;
  }
});

test('/v1/embeddings goes through the gateway to a replica serving the model (official openai client); an unknown model is 404', async () => {
  const client = new OpenAI({ baseURL: `${env.gateway.url}/v1`, apiKey: 'x' });
  const e = await client.embeddings.create({ model: MODEL, input: ['one text', 'another'] });
  assert.equal(e.data.length, 2);
  assert.ok(e.data[0].embedding.length > 0);
  const r = await post(`${env.gateway.url}/v1/embeddings`, { model: 'org/none', input: 'x' });
  assert.equal(r.status, 404, r.text);
  assert.equal(r.json.error.code, 'model_not_found');
});

test('HEAD on /health and /ready answers without a body, on the gateway and on the EPP metrics port', async () => {
  for (const p of ['/health', '/ready']) {
    const r = await fetch(`${env.gateway.url}${p}`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '');
  }
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: loadConfig(), endpoints: [], healthIntervalMs: 0 });
  try {
    for (const p of ['/health', '/ready']) {
      const r = await fetch(`http://127.0.0.1:${epp.metricsPort}${p}`, { method: 'HEAD' });
      assert.equal(r.status, 200, p);
    }
  } finally {
    await epp.close();
  }
});

test('a request with Expect: 100-continue (curl sends it for bodies over 1 MiB) is answered, not failed upstream', async () => {
  const u = new URL(env.gateway.url);
  const body = JSON.stringify({ model: MODEL, prompt: 'x'.repeat(2048), max_tokens: 2 });
  for (const path of ['/v1/completions', '/tokenize']) {
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' } });
      req.on('continue', () => req.end(body)); // the body goes only after the gateway's 100 Continue
      req.on('response', (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode!, text: t }));
      });
      req.on('error', reject);
    });
    assert.equal(status, 200, `${path}: ${text}`);
  }
});

test("vLLM's pooling routes (/v1/rerank, /rerank, /v2/rerank, /score, /v1/score, /pooling, /classify) go to a replica serving the body's model", async () => {
  // A pooling-model server as vLLM answers: its model list, health, and the routes echoed back.
  const seen: string[] = [];
  const upstream = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/v1/models') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'BAAI/bge-reranker-base', object: 'model', root: 'BAAI/bge-reranker-base', parent: null }] }));
      if (req.url === '/health') return void res.writeHead(200).end();
      if (req.method !== 'POST') return void res.writeHead(404).end();
      seen.push(req.url!);
      // A server with its own CORS policy (any origin): the gateway's, not this, reaches browsers.
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' }).end(JSON.stringify({ path: req.url, model: (JSON.parse(body) as { model: string }).model }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(`127.0.0.1:${port}`)], healthIntervalMs: 100, accessLog: false, allowedOrigins: ['https://app.example'] });
  try {
    await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
    const paths = ['/v1/rerank', '/rerank', '/v2/rerank', '/score', '/v1/score', '/pooling', '/classify'];
    for (const path of paths) {
      const r = await post(`${gw.url}${path}`, { model: 'BAAI/bge-reranker-base', query: 'q', documents: ['a'] }, { origin: 'https://app.example' });
      assert.equal(r.status, 200, `${path}: ${r.text}`);
      assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.deepEqual(r.json, { path, model: 'BAAI/bge-reranker-base' });
      assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), `127.0.0.1:${port}`);
    }
    assert.deepEqual(seen, paths);
    const unknown = await post(`${gw.url}/v1/rerank`, { model: 'org/none', query: 'q', documents: ['a'] });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json.error.code, 'model_not_found');
  } finally {
    await gw.close();
    await new Promise((r) => upstream.close(r));
  }
});

test("the pooling routes reach a generative replica (kvgate sim), which answers them as vLLM does for a generative model: 404 {\"detail\":\"Not Found\"}", async () => {
  // Real vLLM registers /score, /rerank… only for pooling models; the gateway still routes them
  // (a pooling replica would serve them) and passes the replica's answer through.
  const replicas = env.fleet.replicas.map((r) => `${r.host}:${r.port}`);
  for (const path of ['/v1/rerank', '/rerank', '/v2/rerank', '/score', '/v1/score', '/pooling', '/classify']) {
    const r = await post(`${env.gateway.url}${path}`, { model: MODEL, query: 'q', documents: ['a'] });
    assert.equal(r.status, 404, path);
    assert.equal(r.text, '{"detail":"Not Found"}', path);
    assert.ok(replicas.includes(r.headers.get('x-gateway-destination-endpoint-served')!), `${path} was answered by a replica`);
  }
  // The openai client sees what it sees from vLLM: a NotFoundError with no OpenAI error in the body.
  const client = new OpenAI({ baseURL: `${env.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  await assert.rejects(client.post('/rerank', { body: { model: MODEL, query: 'q', documents: ['a'] } }), (e: unknown) => {
    assert.ok(e instanceof OpenAI.NotFoundError);
    assert.equal(e.error, undefined, 'no {"error": …} member: the body is FastAPI\'s');
    assert.ok(replicas.includes(e.headers?.get('x-gateway-destination-endpoint-served') ?? ''));
    return true;
  });
});
