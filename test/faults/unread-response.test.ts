// A client that never reads its response: back-pressure stops the upstream (nothing piles up in
// the gateway), and the request deadline frees everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor, MODEL } from '../gateway/helpers.js';
import { MiB, metric, rawSocket, rssBytes, startChild } from './helpers.js';

test('a client that never reads its response: back-pressure stops the upstream, nothing piles up, and the deadline frees it all', async () => {
  let written = 0;
  let blocked = false;
  let upstreamClosed = false;
  const up = createServer((req, res: ServerResponse) => {
    if (req.url === '/health') return res.end();
    if (req.url === '/v1/models') return res.end(JSON.stringify({ data: [{ id: MODEL }] }));
    if (req.url === '/metrics') return res.writeHead(404).end();
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.on('close', () => (upstreamClosed = true));
    const event = Buffer.from(`data: ${JSON.stringify({ choices: [{ index: 0, text: 'x'.repeat(4000) }] })}\n\n`);
    const pump = () => {
      while (!res.destroyed) {
        written += event.length;
        if (!res.write(event)) {
          blocked = true;
          res.once('drain', () => {
            blocked = false;
            pump();
          });
          return;
        }
        if (written > 512 * MiB) return void res.end(); // only reached if the gateway buffered everything
      }
    };
    pump();
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upUrl = `http://127.0.0.1:${(up.address() as AddressInfo).port}`;
  const gw = await startChild(['serve', '--endpoints', upUrl, '--port', '0', '--no-access-log', '--log-level', 'warn', '--request-timeout', '8s']);
  try {
    await waitFor(async () => (await fetch(`${gw.url}/v1/models`).then((r) => r.json() as Promise<{ data: unknown[] }>)).data.length === 1, 30_000);
    const baseline = rssBytes(gw.child.pid!);
    const client = await rawSocket(gw.url);
    client.on('error', () => undefined);
    const body = JSON.stringify({ model: MODEL, prompt: 'x', stream: true, stream_options: { include_usage: true } });
    client.write(`POST /v1/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    client.pause(); // never reads
    // The upstream ends up waiting for 'drain' with the bytes written no longer growing.
    let last = -1;
    let still = 0;
    await waitFor(
      () => {
        still = blocked && written === last ? still + 1 : 0;
        last = written;
        return still >= 10;
      },
      30_000,
      100,
    );
    assert.ok(written < 64 * MiB, `the upstream stopped after ${(written / MiB).toFixed(1)} MiB`);
    assert.ok(rssBytes(gw.child.pid!) - baseline < 64 * MiB, 'the gateway did not buffer the response');
    assert.equal(await metric(gw.url, 'kvgate_requests_in_flight'), 1);
    // --request-timeout ends it: upstream request aborted, client connection cut, bookkeeping zero.
    await waitFor(() => upstreamClosed, 30_000);
    await waitFor(async () => (await metric(gw.url, 'kvgate_requests_in_flight')) === 0, 30_000);
    // The gateway cut the client's connection: reading what it sent now ends in a close.
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.resume();
    await closed;
  } finally {
    await gw.stop();
    up.closeAllConnections();
    up.close();
  }
});
