// 5,000 idle keep-alive connections against a gateway process: it keeps serving, holds them
// cheaply, and closes them at --keep-alive-timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { post, waitFor, MODEL } from '../gateway/helpers.js';
import { MiB, metric, rawSocket, rssBytes, startChild } from './helpers.js';
import { simProcess, stop, warm } from './processes.js';

test('5,000 idle keep-alive connections: the gateway keeps serving, holds them cheaply, and closes them at --keep-alive-timeout', async () => {
  const sim = await simProcess();
  const gw = await startChild(['serve', '--endpoints', sim.url, '--port', '0', '--no-access-log', '--log-level', 'warn', '--keep-alive-timeout', '3s']);
  const sockets: Socket[] = [];
  try {
    await warm(gw.url);
    const baseline = rssBytes(gw.child.pid!);
    let closed = 0;
    let answered = 0;
    for (let i = 0; i < 5000; i++) {
      const s = await rawSocket(gw.url);
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      s.on('data', (d) => {
        if (d.toString('latin1').startsWith('HTTP/1.1 200')) answered++;
      });
      s.write('GET /health HTTP/1.1\r\nhost: x\r\n\r\n');
      sockets.push(s);
    }
    await waitFor(() => answered === 5000, 60_000);
    const held = rssBytes(gw.child.pid!);
    assert.ok(held - baseline < 150 * MiB, `5,000 idle connections cost ${((held - baseline) / MiB).toFixed(0)} MiB`);
    assert.equal((await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'while idle ones wait', max_tokens: 2 })).status, 200);
    await waitFor(() => closed === 5000, 60_000);
    assert.equal(await metric(gw.url, 'kvgate_requests_in_flight'), 0);
  } finally {
    for (const s of sockets) s.destroy();
    await gw.stop();
    await stop(sim.child);
  }
});
