// kvgate top against a server that accepts the connection and then says nothing (not a kvgate
// dashboard, or a proxy holding the stream back): `top --once` waited for undici's 300 s headers
// timeout. Now a silence longer than FEED_SILENCE_MS (headers, or between two chunks) ends it with
// an error naming the URL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { topFrame } from '../../src/observability/top/run-top.js';
import * as feed from '../../src/observability/top/feed-client.js';

/** A loopback server running `handler`; `close` also ends the connections it holds open. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test('top: no answer, or an event stream that stays silent, ends with an error naming the URL (was a wait of 300 s)', { timeout: 60_000 }, async () => {
  const mute = await serve(() => {
    /* accepts, never answers */
  });
  const stalled = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('retry: 2000\n\n'); // headers and a comment-like frame, then nothing
  });
  try {
    await assert.rejects(topFrame({ url: mute.url, columns: 100, silenceMs: 300 }), (e: Error) => e.message === `${mute.url}/dashboard/events did not answer in 0.3 s (is this a kvgate gateway or EPP metrics port?)`);
    await assert.rejects(topFrame({ url: stalled.url, columns: 100, silenceMs: 300 }), (e: Error) => e.message === `${stalled.url}/dashboard/events sent nothing for 0.3 s (the dashboard sends an event every second)`);
    // The CLI's limit: ten of the dashboard's one-second ticks.
    assert.equal((feed as { FEED_SILENCE_MS?: number }).FEED_SILENCE_MS, 10_000);
  } finally {
    await mute.close();
    await stalled.close();
  }
});
