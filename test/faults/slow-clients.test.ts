// Clients that send slowly, never finish, or send more than memory allows: each gets a defined
// answer (408 / 503 with Retry-After), its buffer is freed, and nothing stays in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startSimServer } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { post, waitFor, MODEL } from '../gateway/helpers.js';
import { MiB, metric, rawSocket, readUntilClosed, rssBytes, startChild, statusOf } from './helpers.js';

const head = (len: number | 'chunked') =>
  `POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${len === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${len}`}\r\n\r\n`;

/** Writes `bytes` of body filler to `s`, respecting back-pressure. */
async function send(s: Socket, bytes: number): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  for (let sent = 0; sent < bytes && !s.destroyed; sent += chunk.length) {
    if (!s.write(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))) await new Promise((r) => s.once('drain', r));
  }
}

async function setup(timeouts: { requestBodyIdleMs: number; requestBodyMs: number }, maxBufferedBytes: number) {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints: [parseEndpoint(sim.url)], accessLog: false, timeouts, maxBufferedBytes });
  await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
  return {
    gw,
    async close() {
      await gw.close();
      await sim.close();
    },
  };
}

test('a body that stalls gets 408 after --request-body-idle-timeout; one that trickles forever gets 408 at --request-body-timeout; both connections close', async () => {
  const env = await setup({ requestBodyIdleMs: 400, requestBodyMs: 2000 }, 64 * MiB);
  try {
    const stalled = await rawSocket(env.gw.url);
    const stalledText = readUntilClosed(stalled);
    stalled.write(head(1_000_000) + '{"model":"');
    const trickle = await rawSocket(env.gw.url);
    const trickleText = readUntilClosed(trickle);
    trickle.write(head('chunked'));
    const timer = setInterval(() => trickle.writable && trickle.write('5\r\naaaaa\r\n'), 100);
    try {
      const a = await stalledText;
      assert.equal(statusOf(a), 408, a);
      assert.match(a, /connection: close/i);
      assert.match(a, /"code":"request_timeout"/);
      assert.match(a, /--request-body-idle-timeout/);
      const b = await trickleText;
      assert.equal(statusOf(b), 408, b);
      assert.match(b, /--request-body-timeout/);
    } finally {
      clearInterval(timer);
    }
    assert.equal(await metric(env.gw.url, 'kvgate_buffered_request_bytes'), 0);
    assert.equal(env.gw.director.inFlight, 0);
    assert.equal((await post(`${env.gw.url}/v1/completions`, { model: MODEL, prompt: 'still fine', max_tokens: 2 })).status, 200);
  } finally {
    await env.close();
  }
});

test('over --max-buffered-bytes a request gets 503 with Retry-After before anything of it is buffered; aborted bodies give their bytes back', async () => {
  const env = await setup({ requestBodyIdleMs: 30_000, requestBodyMs: 60_000 }, 3 * MiB);
  try {
    const holders = await Promise.all([rawSocket(env.gw.url), rawSocket(env.gw.url)]);
    for (const s of holders) {
      s.on('error', () => undefined);
      s.write(head(1.5 * MiB));
      await send(s, MiB);
    }
    await waitFor(async () => (await metric(env.gw.url, 'kvgate_buffered_request_bytes')) === 3 * MiB);
    const third = await rawSocket(env.gw.url);
    const thirdText = readUntilClosed(third);
    third.write(head(100_000));
    const t = await thirdText;
    assert.equal(statusOf(t), 503, t);
    assert.match(t, /retry-after: 1/i);
    assert.match(t, /"code":"overloaded"/);
    assert.equal(await metric(env.gw.url, 'kvgate_buffered_request_bytes'), 3 * MiB, 'nothing of the refused request was charged');
    // Small announced bodies are refused too while the budget is full; chunked ones as their bytes arrive.
    assert.equal((await post(`${env.gw.url}/v1/completions`, { model: MODEL, prompt: 'x' })).status, 503);
    for (const s of holders) s.destroy();
    await waitFor(async () => (await metric(env.gw.url, 'kvgate_buffered_request_bytes')) === 0);
    assert.equal((await post(`${env.gw.url}/v1/completions`, { model: MODEL, prompt: 'x', max_tokens: 2 })).status, 200);
    assert.equal(env.gw.director.inFlight, 0);
  } finally {
    await env.close();
  }
});

test('memory: slow bodies holding ~120 MB in a gateway process are freed when they time out (RSS back near its baseline)', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  const gw = await startChild(['serve', '--endpoints', sim.url, '--port', '0', '--no-access-log', '--log-level', 'warn', '--request-body-idle-timeout', '1s']);
  try {
    await waitFor(async () => (await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'warm', max_tokens: 2 })).status === 200, 30_000);
    for (let i = 0; i < 20; i++) await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: `warm ${i}`, max_tokens: 2 });
    const baseline = rssBytes(gw.child.pid!);
    const sockets = await Promise.all(Array.from({ length: 20 }, () => rawSocket(gw.url)));
    const answers = sockets.map((s) => readUntilClosed(s));
    await Promise.all(
      sockets.map(async (s) => {
        s.write(head(8 * MiB));
        await send(s, 6 * MiB);
      }),
    );
    const statuses = (await Promise.all(answers)).map(statusOf);
    assert.deepEqual(statuses, Array(20).fill(408));
    assert.equal(await metric(gw.url, 'kvgate_buffered_request_bytes'), 0);
    // A gateway in service keeps serving; its garbage collector returns the freed buffers.
    await waitFor(
      async () => {
        await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'after', max_tokens: 2 });
        return rssBytes(gw.child.pid!) < baseline + 64 * MiB;
      },
      90_000,
      500,
    );
    assert.equal(await metric(gw.url, 'kvgate_requests_in_flight'), 0);
  } finally {
    await gw.stop();
    await sim.close();
  }
});
