// KV-event input the router cannot trust never blocks requests: a publisher that floods garbage,
// unknown tags and gaps, with a replay socket that never answers, next to requests through the gateway.
// And llm-d's layout: engines publish to a socket the gateway binds, streams named by their topic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import * as zmq from 'zeromq';
import { pino } from 'pino';
import { encode } from '@msgpack/msgpack';
import { startSimFleet } from '../../src/sim/fleet.js';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } from '../../src/datalayer/kv-events/labels.js';
import { freePort } from '../helpers/ports.js';
import { MODEL, post, waitFor } from '../gateway/helpers.js';

const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);

test('a flooding publisher of malformed frames, unknown tags and gaps, with a silent replay socket: requests still flow, everything is counted', { timeout: 120_000 }, async () => {
  const fleet = await startSimFleet({ replicas: 2, basePort: 0, profile: 'instant' });
  const rogue = new zmq.Publisher({ sendHighWaterMark: 1_000_000 });
  await rogue.bind('tcp://127.0.0.1:*');
  const silent = new zmq.Router();
  await silent.bind('tcp://127.0.0.1:*');
  void (async () => {
    for await (const _ of silent); // reads replay requests, never answers
  })().catch(() => undefined);
  const port = (a: string) => a.split(':').pop()!;
  // Replica 0's "engine" events come from the rogue publisher; replica 1 publishes nothing.
  const endpoints = [
    parseEndpoint(fleet.replicas[0].url, { [KV_EVENTS_PORT_LABEL]: port(rogue.lastEndpoint!), [KV_EVENTS_REPLAY_PORT_LABEL]: port(silent.lastEndpoint!) }),
    parseEndpoint(fleet.replicas[1].url),
  ];
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints, healthIntervalMs: 200, accessLog: false, kvEvents: { subscriber: { replayTimeoutMs: 200, replayBackoffMs: 200 } } });
  let flooding = true;
  const seq = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const garbage: (() => (Buffer | string)[])[] = [
    () => ['kv@x@m'], // one frame
    () => ['kv@x@m', Buffer.from([1, 2]), Buffer.from([0xc1])], // short sequence frame, invalid msgpack
    () => ['kv@x@m', seq(0), Buffer.from([0xc1, 0xc1])],
    () => ['kv@x@m', seq(1), Buffer.from(encode([1, [['NoSuchEvent', 1, 2]], 0]))], // unknown tag
    () => ['kv@x@m', seq(2), Buffer.from(encode([1, [['BlockStored', 'not-hashes', null, [1, 2], 'x', null, 'GPU', null]], 0]))], // wrong types
    () => ['kv@x@m', seq(1_000_000 + Math.floor(Math.random() * 1e6)), Buffer.from(encode([1, [['BlockStored', [7], null, [1, 2, 3, 4], 4, null, 'GPU', null]], 0]))], // gaps
  ];
  let sent = 0;
  const flood = (async () => {
    while (flooding) {
      for (const g of garbage) await rogue.send(g());
      sent += garbage.length;
      if (sent % 600 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  try {
    await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
    await waitFor(() => (gw.kvEvents!.stats().decodeErrors.total ?? 0) > 100, 20_000);
    // Requests while the flood goes on: every one answered.
    const text = 'The same system prompt for everyone. '.repeat(40);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => post(`${gw.url}/v1/completions`, { model: MODEL, prompt: `${text} question ${i}`, max_tokens: 2 })));
    assert.deepEqual(results.map((r) => r.status), results.map(() => 200));
    assert.ok(flooding && sent > 1000, `the flood was running (${sent} messages)`);
    const m = await (await fetch(`${gw.url}/metrics`)).text();
    for (const kind of ['frame_count', 'sequence_frame', 'msgpack', 'unknown_tag']) {
      assert.ok(metric(m, new RegExp(`^kvgate_kv_events_decode_errors_total\\{kind="${kind}"\\} (\\d+)`, 'm')) > 0, `${kind} counted`);
    }
    await waitFor(() => gw.kvEvents!.stats().replaysFailed > 0, 20_000);
    const m2 = await (await fetch(`${gw.url}/metrics`)).text();
    assert.ok(metric(m2, /^kvgate_kv_events_replays_total\{outcome="failed"\} (\d+)/m) > 0, 'the silent replay socket timed out');
    assert.ok(metric(m2, /^kvgate_kv_events_sequence_gaps_total (\d+)/m) > 0);
    const state = gw.kvEvents!.view.status(endpoints[0].id)!.state;
    assert.notEqual(state, 'waiting');
    // Whatever the rogue stream's state, decisions for that replica never rested on an exact match it could not back.
    const res = await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: text, max_tokens: 1 });
    assert.equal(res.status, 200);
  } finally {
    flooding = false;
    await flood.catch(() => undefined);
    await gw.close();
    rogue.close();
    silent.close();
    await fleet.close();
  }
});

test("llm-d's layout: engines publish to the gateway's bound socket; topics kv@<host:port>@<model> name the endpoints, unknown topics are dropped", { timeout: 60_000 }, async () => {
  const httpPorts = [await freePort(), await freePort(), await freePort()];
  const bindPort = await freePort();
  // The engines connect first (ZeroMQ retries until the gateway binds), as pods starting before the EPP.
  const sims: RunningSim[] = [];
  for (const p of httpPorts) sims.push(await startSimServer({ port: p, profile: 'instant', kvEventsEndpoint: `tcp://127.0.0.1:${bindPort}`, kvEventsTopic: `kv@127.0.0.1:${p}@${MODEL}` }));
  const endpoints = httpPorts.slice(0, 2).map((p) => parseEndpoint(`127.0.0.1:${p}`));
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints, healthIntervalMs: 100, debugScores: true, kvEvents: { bind: `tcp://127.0.0.1:${bindPort}` } });
  try {
    assert.equal(gw.kvEvents!.boundAddress, `tcp://127.0.0.1:${bindPort}`);
    await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
    const p = 'A long shared prompt for the bound layout. '.repeat(30);
    let i = 0;
    // Until both subscriptions carry traffic (the engines' connects take a moment).
    await waitFor(async () => {
      if (endpoints.every((e) => gw.kvEvents!.view.status(e.id)?.state === 'live') && gw.kvEvents!.stats().dropped.unknownTopic > 0) return true;
      for (const s of sims) await post(`${s.url}/v1/completions`, { model: MODEL, prompt: `warm ${i++} `.repeat(10), max_tokens: 1 });
      return false;
    }, 20_000, 50);
    const first = await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: p, max_tokens: 1 });
    const r = first.headers.get('x-gateway-destination-endpoint-served')!;
    let again;
    await waitFor(async () => {
      again = await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: p, max_tokens: 1 });
      const scores = JSON.parse(again.headers.get('x-kvgate-scores')!) as { endpoint: string; prefix: { blocks: number; source: string } }[];
      const mine = scores.find((s) => s.endpoint === r)!;
      return mine.prefix.source === 'exact' && mine.prefix.blocks > 0;
    });
    assert.equal(again!.headers.get('x-gateway-destination-endpoint-served'), r);
    assert.ok(again!.json.usage.prompt_tokens_details.cached_tokens > 0);
    assert.equal(gw.kvEvents!.view.status(`127.0.0.1:${httpPorts[2]}`), undefined, 'the engine outside the pool is not a stream');
  } finally {
    await gw.close();
    for (const s of sims) await s.close();
  }
});

test('the precise preset over endpoints without any KV-event source says so at startup, naming the flags, and routes approximately', async () => {
  const fleet = await startSimFleet({ replicas: 1, basePort: 0, profile: 'instant' });
  const lines: string[] = [];
  const logger = pino({ level: 'warn' }, new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }));
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'precise' }), endpoints: fleet.replicas.map((r) => parseEndpoint(r.url)), healthIntervalMs: 100, logger, accessLog: false });
  try {
    assert.ok(lines.some((l) => /--kv-events-port/.test(l) && /--kv-events-bind/.test(l)), lines.join(''));
    await waitFor(() => gw.router.datastore.list().every((e) => e.models !== undefined));
    const r = await post(`${gw.url}/v1/completions`, { model: MODEL, prompt: 'approximate only '.repeat(30), max_tokens: 1 });
    assert.equal(r.status, 200);
    const m = await (await fetch(`${gw.url}/metrics`)).text();
    assert.match(m, /^kvgate_prefix_match_source_total\{source="approx"\} 1$/m);
    assert.match(m, /^kvgate_prefix_match_source_total\{source="exact"\} 0$/m);
  } finally {
    await gw.close();
    await fleet.close();
  }
});
