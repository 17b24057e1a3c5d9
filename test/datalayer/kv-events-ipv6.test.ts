// The router's KV-event intake on IPv6 (IPv6 clusters give Pods addresses such as fd00:10:244::5),
// on the loopback ::1. Before: the SUB and replay sockets lacked ZeroMQ's IPv6 option, so
// `tcp://[::1]:p` never connected and `--kv-events-bind tcp://*:5557` took IPv4 publishers only;
// and a topic naming a pod by a bare IPv6 address with a port matched no endpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { encode } from '@msgpack/msgpack';
import { KvEventIntake } from '../../src/datalayer/kv-events/kv-event-intake.js';
import { KV_EVENTS_PORT_LABEL, KV_EVENTS_REPLAY_PORT_LABEL } from '../../src/datalayer/kv-events/labels.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { startSimServer } from '../../src/sim/server.js';
import { freePortRange } from '../helpers/ports.js';

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function complete(url: string, model: string, prompt: string): Promise<void> {
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt, max_tokens: 1 }) });
  assert.equal(r.status, 200);
  await r.json();
}

test('connect layout: an endpoint [::1]:port is subscribed at tcp://[::1]:<kv port>, and a late join is replayed from tcp://[::1]:<replay port>', async () => {
  const base = await freePortRange(2);
  const sim = await startSimServer({ host: '::1', port: 0, profile: 'instant', kvEventsEndpoint: `tcp://[::1]:${base}`, kvEventsReplayEndpoint: `tcp://[::1]:${base + 1}` });
  const intake = new KvEventIntake();
  try {
    // Batches published before the router subscribes: only the replay socket has them.
    await complete(sim.url, sim.options.model, 'early '.repeat(80));
    const e = parseEndpoint(`[::1]:${new URL(sim.url).port}`, { [KV_EVENTS_PORT_LABEL]: String(base), [KV_EVENTS_REPLAY_PORT_LABEL]: String(base + 1) });
    assert.equal(e.id, `[::1]:${new URL(sim.url).port}`);
    intake.sync([e]);
    let i = 0;
    await until(async () => {
      await complete(sim.url, sim.options.model, `${i++} ${'late '.repeat(80)}`);
      return intake.stats().replaysCompleted > 0 && intake.view.status(e.id)?.state === 'live';
    }, 'a live stream over IPv6 with its history replayed');
    assert.equal(intake.stats().replayedBatches > 0, true, 'the early batches came through the IPv6 replay socket');
    assert.ok(intake.index.blocks(e.id) > 0);
  } finally {
    await intake.close();
    await sim.close();
  }
});

/** A vLLM-style publisher connecting to the router (llm-d layout); `send` numbers batches 0, 1, 2… */
function publisherTo(addr: string) {
  const pub = new zmq.Publisher({ ipv6: addr.includes('[') });
  pub.connect(addr);
  let seq = 0n;
  let hash = 1;
  return {
    pub,
    send: async (topic: string) => {
      const s = Buffer.alloc(8);
      s.writeBigUInt64BE(seq++);
      await pub.send([topic, s, encode([Date.now() / 1000, [['BlockStored', [hash++], null, [1, 2, 3, 4], 4, null, 'GPU', null]], 0])]);
    },
  };
}

test('bind layout: --kv-events-bind tcp://*:port takes IPv6 and IPv4 publishers; topics with IPv6 pod addresses (bare, bracketed, another spelling, bare with a port) resolve to their endpoints', async () => {
  const port = await freePortRange(1);
  const intake = new KvEventIntake({ bind: `tcp://*:${port}` });
  await intake.start();
  const bare = parseEndpoint('[fd00:10:244::5]:8000');
  const bracketed = parseEndpoint('[fd00:10:244::6]:8000');
  const spelled = parseEndpoint('[fd00:10:244::7]:8000');
  const withPort = parseEndpoint('[fd00:10:244::8]:8000');
  const v4 = parseEndpoint('10.0.0.5:8000');
  intake.sync([bare, bracketed, spelled, withPort, v4]);
  // One publisher per stream (as one engine each), so every stream's sequence is gapless.
  const v6 = ['kv@fd00:10:244::5@m', 'kv@[fd00:10:244::6]:8000@m', 'kv@FD00:10:244:0:0:0:0:7@m', 'kv@fd00:10:244::8:8000@m'].map((topic) => ({ topic, ...publisherTo(`tcp://[::1]:${port}`) }));
  const pubs = [...v6, { topic: 'kv@10.0.0.5@m', ...publisherTo(`tcp://127.0.0.1:${port}`) }];
  try {
    await until(() => {
      for (const p of pubs) void p.send(p.topic);
      return [bare, bracketed, spelled, withPort, v4].every((e) => intake.index.blocks(e.id) > 0);
    }, 'every topic resolved');
    assert.equal(intake.stats().dropped.unknownTopic, 0);
  } finally {
    for (const p of pubs) p.pub.close();
    await intake.close();
  }
});
