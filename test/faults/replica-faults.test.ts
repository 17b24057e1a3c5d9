// Replicas that stop answering (SIGSTOP) or die mid-stream (SIGKILL), as separate processes:
// requests that had no answer yet fail over, streams already flowing end with an SSE error event,
// and the gateway's bookkeeping returns to zero.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { post, waitFor, MODEL } from '../gateway/helpers.js';

async function simProcess(): Promise<{ child: ChildProcess; url: string; id: string }> {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', '--inter-token-latency', '20']);
  const line = await waitForOutput(child, /listening on (http:\/\/[\d.:]+)/, 60_000);
  const url = /http:\/\/[\d.:]+/.exec(line)![0];
  return { child, url, id: url.replace('http://', '') };
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGCONT');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** A streamed completion read event by event: resolves once it ended, with its events. */
async function openStream(url: string, tokens: number) {
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'a story', max_tokens: tokens, ignore_eos: true, stream: true }),
  });
  const served = r.headers.get('x-gateway-destination-endpoint-served')!;
  const events: string[] = [];
  let firstEvent!: () => void;
  const started = new Promise<void>((res) => (firstEvent = res));
  const ended = (async () => {
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        events.push(buf.slice(0, i));
        buf = buf.slice(i + 2);
        firstEvent();
      }
    }
    return events;
  })();
  return { status: r.status, served, started, ended };
}

async function gatewayOver(urls: string[], logLines: Record<string, unknown>[] = []): Promise<RunningGateway> {
  const sink = new Writable({ write: (c, _e, cb) => (logLines.push(JSON.parse(c.toString())), cb()) });
  const gw = await startGateway({
    logger: pino(sink),
    port: 0,
    // Round robin: requests keep going to the stopped replica until it is ejected.
    config: loadConfig({ preset: 'round-robin' }),
    endpoints: urls.map((u) => parseEndpoint(u)),
    healthIntervalMs: 200,
    accessLog: false,
    timeouts: { upstreamFirstByteMs: 1000, upstreamIdleMs: 1000 },
  });
  await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined), 30_000);
  return gw;
}

test('a stopped replica (SIGSTOP): requests without an answer yet are retried elsewhere; its streams end with an SSE error event', async () => {
  const [a, b] = await Promise.all([simProcess(), simProcess()]);
  const logs: Record<string, unknown>[] = [];
  const gw = await gatewayOver([a.url, b.url], logs);
  try {
    // Streams on both replicas, flowing.
    const streams = await Promise.all(Array.from({ length: 4 }, () => openStream(gw.url, 300)));
    await Promise.all(streams.map((s) => s.started));
    const onA = streams.filter((s) => s.served === a.id);
    const onB = streams.filter((s) => s.served === b.id);
    assert.ok(onA.length > 0 && onB.length > 0, 'round robin put streams on both');
    a.child.kill('SIGSTOP');
    // New requests, streamed and not, sent while the replica is stopped and not yet ejected.
    const fresh = await Promise.all([
      ...Array.from({ length: 4 }, () => post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'x', max_tokens: 3, stream: true })),
      ...Array.from({ length: 4 }, () => post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'y', max_tokens: 3 })),
    ]);
    for (const r of fresh) {
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-gateway-destination-endpoint-served'), b.id);
      if (r.json === null) assert.match(r.text, /data: \[DONE\]/);
    }
    for (const s of onA) {
      const events = await s.ended;
      assert.match(events.at(-1)!, /"error":\{"message":"upstream .* sent nothing for 1 s \(--upstream-idle-timeout\)"/);
    }
    for (const s of onB) assert.equal((await s.ended).at(-1), 'data: [DONE]');
    await waitFor(() => gw.director.inFlight === 0 && gw.router.datastore.inFlightCount === 0);
    assert.equal(gw.router.datastore.get(a.id)!.healthy, false, 'ejected');
    // Both ways out were taken: the first-byte timeout (streamed) and the ejection (non-streamed).
    const failovers = logs.filter((l) => l.msg === 'upstream attempt failed; trying the next endpoint' && l.endpoint === a.id).map((l) => String(l.reason));
    assert.ok(failovers.some((r) => r.startsWith('first-byte-timeout: no response headers from')), failovers.join('; '));
    assert.ok(failovers.some((r) => r.includes('was ejected before answering')), failovers.join('; '));
    a.child.kill('SIGCONT');
    await waitFor(() => gw.router.datastore.get(a.id)!.healthy, 30_000);
  } finally {
    await gw.close();
    await Promise.all([kill(a.child), kill(b.child)]);
  }
});

test('a replica killed mid-stream (SIGKILL): its streams end with a clean SSE error event; the other replica serves on', async () => {
  const [a, b] = await Promise.all([simProcess(), simProcess()]);
  const gw = await gatewayOver([a.url, b.url]);
  try {
    const streams = await Promise.all(Array.from({ length: 4 }, () => openStream(gw.url, 300)));
    await Promise.all(streams.map((s) => s.started));
    const onA = streams.filter((s) => s.served === a.id);
    assert.ok(onA.length > 0);
    await kill(a.child);
    for (const s of onA) {
      const events = await s.ended;
      assert.match(events.at(-1)!, /^data: \{"error":\{"message":"upstream .* failed mid-stream/);
      assert.ok(events.length > 1, 'tokens flowed before the error');
    }
    for (const s of streams.filter((x) => x.served === b.id)) assert.equal((await s.ended).at(-1), 'data: [DONE]');
    for (let i = 0; i < 6; i++) assert.equal((await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: `after ${i}`, max_tokens: 2 })).status, 200);
    await waitFor(() => gw.director.inFlight === 0 && gw.router.datastore.inFlightCount === 0);
  } finally {
    await gw.close();
    await Promise.all([kill(a.child), kill(b.child)]);
  }
});
