// Failures after the response started (docs/gateway.md): a replica that sends 200 and then
// resets mid-body, or ends a stream without vLLM's closing `data: [DONE]`, fails the request
// (status 200, errorCode upstream_failed; an SSE error event for streams) and counts toward its
// ejection as a failure before the first byte does; a complete response resets the count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { MODEL } from '../gateway/helpers.js';

type Behaviour = (req: IncomingMessage, res: ServerResponse, stream: boolean) => void;

/** A model server that answers /health and /v1/models, and inference as `behave` says. */
async function fakeUpstream(behave: Behaviour): Promise<{ url: string; id: string; inference: () => number; close(): void }> {
  let n = 0;
  const srv = createServer((req, res) => {
    if (req.url === '/health') return void res.end();
    if (req.url === '/v1/models') return void res.setHeader('content-type', 'application/json').end(JSON.stringify({ object: 'list', data: [{ id: MODEL, object: 'model' }] }));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/v1/completions') return void res.writeHead(404).end();
      n++;
      behave(req, res, (JSON.parse(Buffer.concat(chunks).toString()) as { stream?: boolean }).stream === true);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const id = `127.0.0.1:${(srv.address() as AddressInfo).port}`;
  return { url: `http://${id}`, id, inference: () => n, close: () => srv.close() };
}

const EVENT = 'data: {"id":"x","object":"text_completion","choices":[{"index":0,"text":"hi","finish_reason":null}]}\n\n';

/** 200 and one body chunk, then the socket destroyed. */
const resetMidBody: Behaviour = (_req, res, stream) => {
  res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json' });
  res.write(stream ? EVENT : '{"id":"x","choices":[');
  setImmediate(() => res.socket?.destroy());
};

/** A stream that ends cleanly, cut mid-event, without data: [DONE]. */
const cutStream: Behaviour = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(EVENT);
  res.end('data: {"id":"x","choi');
};

async function simReplica() {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant']);
  const line = await waitForOutput(child, /listening on (http:\/\/[\d.:]+)/, 60_000);
  return { child, url: /http:\/\/[\d.:]+/.exec(line)![0] };
}

async function gatewayOver(urls: string[]): Promise<{ gw: RunningGateway; lines: LogLine[] }> {
  const { logger, lines } = capturingLogger();
  const gw = await startGateway({
    logger,
    port: 0,
    config: loadConfig({ preset: 'round-robin' }),
    endpoints: urls.map((u) => parseEndpoint(u)),
    // No probes: nothing readmits an ejected endpoint during the test, and only request outcomes eject.
    healthIntervalMs: 0,
    ejectAfter: 3,
  });
  return { gw, lines };
}

async function complete(url: string, stream: boolean): Promise<{ status: number; text: string }> {
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'hello', max_tokens: 4, stream }),
  });
  // A cut non-streamed body fails the client's read: what it got so far is enough here.
  const text = await r.text().catch(() => '');
  return { status: r.status, text };
}

const accessLogs = (lines: LogLine[], endpoint: string) => lines.filter((l) => l.msg === 'request' && l.endpoint === endpoint);

for (const stream of [true, false]) {
  test(`a replica that resets every ${stream ? 'stream' : 'response'} after its first body chunk is ejected after three such failures`, async () => {
    const sim = await simReplica();
    const bad = await fakeUpstream(resetMidBody);
    const { gw, lines } = await gatewayOver([sim.url, bad.url]);
    try {
      for (let i = 0; i < 12; i++) await complete(gw.url, stream);
      assert.equal(gw.router.datastore.get(bad.id)!.healthy, false, 'ejected');
      assert.equal(bad.inference(), 3, 'three consecutive failures, then no more traffic');
      const logged = accessLogs(lines, bad.id);
      assert.equal(logged.length, 3);
      for (const l of logged) assert.deepEqual([l.status, l.errorCode], [200, 'upstream_failed']);
      assert.ok(lines.some((l) => l.msg === 'endpoint ejected' && l.endpoint === bad.id));
      const good = accessLogs(lines, sim.url.replace('http://', ''));
      assert.equal(good.length, 9);
      for (const l of good) assert.deepEqual([l.status, l.errorCode], [200, undefined]);
    } finally {
      await gw.close();
      bad.close();
      sim.child.kill('SIGKILL');
    }
  });
}

test('a stream that ends without data: [DONE] ends with the upstream_failed error event, is logged as an error and counts toward ejection', async () => {
  const sim = await simReplica();
  const bad = await fakeUpstream(cutStream);
  const { gw, lines } = await gatewayOver([sim.url, bad.url]);
  try {
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await complete(gw.url, true));
    const cut = results.filter((r) => !/^data: \[DONE\]$/m.test(r.text));
    assert.equal(cut.length, 3);
    for (const r of cut) {
      assert.equal(r.status, 200);
      const events = r.text.split('\n\n').filter(Boolean);
      const last = JSON.parse(events.at(-1)!.slice('data: '.length)) as { error: { code: string; type: string } };
      assert.deepEqual([last.error.code, last.error.type], ['upstream_failed', 'server_error']);
      assert.ok(r.text.startsWith(EVENT), 'the bytes that came are passed on');
    }
    for (const l of accessLogs(lines, bad.id)) assert.deepEqual([l.status, l.errorCode], [200, 'upstream_failed']);
    assert.equal(gw.router.datastore.get(bad.id)!.healthy, false, 'ejected');
    assert.equal(bad.inference(), 3);
  } finally {
    await gw.close();
    bad.close();
    sim.child.kill('SIGKILL');
  }
});

test('complete responses between mid-body failures reset the count: failures must be consecutive to eject', async () => {
  let n = 0;
  // Fails two requests in three: never three in a row.
  const flaky = await fakeUpstream((req, res, stream) => {
    if (n++ % 3 === 2) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      return void res.end(`${EVENT}data: [DONE]\n\n`);
    }
    resetMidBody(req, res, stream);
  });
  const { gw, lines } = await gatewayOver([flaky.url]);
  try {
    for (let i = 0; i < 9; i++) await complete(gw.url, true);
    assert.equal(flaky.inference(), 9);
    assert.equal(gw.router.datastore.get(flaky.id)!.healthy, true, 'not ejected');
    const codes = accessLogs(lines, flaky.id).map((l) => l.errorCode ?? 'ok');
    assert.deepEqual(codes, ['upstream_failed', 'upstream_failed', 'ok', 'upstream_failed', 'upstream_failed', 'ok', 'upstream_failed', 'upstream_failed', 'ok']);
  } finally {
    await gw.close();
    flaky.close();
  }
});
