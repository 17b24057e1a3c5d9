// HEAD /dashboard/events: Node drops a HEAD response's writes without sending its headers, so a
// HEAD on the SSE feed got no answer at all and kept one of the viewer slots while connected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FleetRecorder } from '../../src/observability/fleet-recorder.js';
import { serveDashboard } from '../../src/observability/dashboard-server.js';

/** One HTTP exchange: status, content type, and whether the response ended (its 'end' event). */
function exchange(port: number, method: string, path: string): Promise<{ status: number; contentType: string; ended: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path }, (res) => {
      const ended = new Promise<void>((done) => res.on('end', done));
      res.resume();
      resolve({ status: res.statusCode!, contentType: String(res.headers['content-type']), ended });
    });
    req.on('error', reject);
    req.end();
  });
}

test('HEAD /dashboard/events answers the SSE headers and ends, and takes no viewer slot', async () => {
  const recorder = new FleetRecorder({ list: () => [] }, { pool: 'p' });
  const open = new Set<import('node:net').Socket>();
  const server: Server = createServer((req, res) => {
    if (!serveDashboard(req, res, recorder, { maxViewers: 1 })) res.writeHead(404).end();
  });
  server.on('connection', (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    // Once the server has handled the HEAD (its handler runs before this later 'request' listener)…
    const handled = new Promise<void>((r) => server.once('request', () => r()));
    const headAnswer = exchange(port, 'HEAD', '/dashboard/events');
    await handled;
    // …a GET with the one viewer slot is the viewer (200), not "too many dashboard viewers" (503).
    const get = await exchange(port, 'GET', '/dashboard/events');
    assert.equal(get.status, 200, 'the HEAD held the only viewer slot');
    assert.equal(get.contentType, 'text/event-stream');
    const head = await headAnswer;
    assert.equal(head.status, 200);
    assert.equal(head.contentType, 'text/event-stream');
    await head.ended;
  } finally {
    for (const s of open) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
