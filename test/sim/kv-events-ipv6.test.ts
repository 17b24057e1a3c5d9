// KV events over IPv6 (IPv6 clusters give Pods addresses such as fd00:10:244::5). ZeroMQ reads a
// bracketed IPv6 endpoint only with its IPv6 socket option: without it `tcp://[::1]:5557` failed
// to bind ("No such device") or connected nowhere, and `tcp://*:5557` listened on IPv4 only.
// Everything here runs on the loopback ::1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as zmq from 'zeromq';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { narrowWildcard, offsetEndpoint, zmqShouldBind } from '../../src/sim/kv-event-publisher.js';
import { freePortRange } from '../helpers/ports.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';

/**
 * Sends completions (a new prompt each time, so each stores new blocks) until the subscriber
 * receives a message (PUB/SUB joins late: the first batches may go before the subscription lands).
 * Returns the first message's topic.
 */
async function firstTopic(url: string, model: string, sub: zmq.Subscriber): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, prompt: `${i} ${'word '.repeat(80)}`, max_tokens: 1 }) });
    assert.equal(r.status, 200);
    await r.json();
    try {
      const [topic] = await sub.receive();
      return topic.toString();
    } catch {
      // receiveTimeout: not joined yet, try another batch
    }
  }
  throw new Error('no KV event batch arrived');
}

async function withSub<T>(f: (sub: zmq.Subscriber) => Promise<T>): Promise<T> {
  const sub = new zmq.Subscriber({ ipv6: true, receiveTimeout: 250, linger: 0 });
  sub.subscribe();
  try {
    return await f(sub);
  } finally {
    sub.close();
  }
}

test("vLLM's bind rule: an endpoint containing :: (tcp://[::]:p, tcp://[::1]:p), * or 0.0.0.0 binds; any other address connects", () => {
  for (const e of ['tcp://*:5557', 'tcp://[::]:5557', 'tcp://[::1]:5557', 'tcp://0.0.0.0:5557', 'ipc:///tmp/kv', 'inproc://kv']) assert.equal(zmqShouldBind(e), true, e);
  for (const e of ['tcp://10.0.0.5:5557', 'tcp://[fd00:1:2:3:4:5:6:7]:5557', 'tcp://router:5557']) assert.equal(zmqShouldBind(e), false, e);
  assert.equal(offsetEndpoint('tcp://[fd00::5]:5557', 2), 'tcp://[fd00::5]:5559');
});

test('sim --host ::1 with --kv-events-endpoint tcp://[::1]:port: the publisher binds there and a subscriber on ::1 receives the batches', async () => {
  const port = await freePortRange(1);
  const sim = await startSimServer({ host: '::1', port: 0, profile: 'instant', kvEventsEndpoint: `tcp://[::1]:${port}`, kvEventsTopic: 'kv@{host}:{port}@{model}' });
  try {
    assert.match(sim.url, /^http:\/\/\[::1\]:\d+$/);
    const topic = await withSub(async (sub) => {
      sub.connect(`tcp://[::1]:${port}`);
      return firstTopic(sim.url, sim.options.model, sub);
    });
    assert.equal(topic, `kv@[::1]:${new URL(sim.url).port}@${sim.options.model}`, 'an IPv6 {host} is bracketed in the topic');
  } finally {
    await sim.close();
  }
});

test('sim: a user-written tcp://*:port listens on IPv6 as well as IPv4 (dual-stack), and the replay socket too', async () => {
  const base = await freePortRange(2);
  let sim: RunningSim | undefined;
  try {
    sim = await startSimServer({ port: 0, profile: 'instant', kvEventsEndpoint: `tcp://*:${base}`, kvEventsReplayEndpoint: `tcp://*:${base + 1}` });
    const s = sim;
    await withSub(async (sub) => {
      sub.connect(`tcp://[::1]:${base}`);
      assert.equal(await firstTopic(s.url, s.options.model, sub), '');
    });
    await withSub(async (sub) => {
      sub.connect(`tcp://127.0.0.1:${base}`);
      assert.equal(await firstTopic(s.url, s.options.model, sub), '', 'IPv4 still reaches it');
    });
    const dealer = new zmq.Dealer({ ipv6: true, linger: 0, receiveTimeout: 10_000 });
    try {
      dealer.connect(`tcp://[::1]:${base + 1}`);
      await dealer.send(['', Buffer.alloc(8)]);
      const frames = await dealer.receive();
      assert.ok(frames.length >= 2, 'the replay socket answered over IPv6');
    } finally {
      dealer.close();
    }
  } finally {
    await sim?.close();
  }
});

test('narrowWildcard: tcp://*:port on an IPv6 HTTP address is bracketed; 0.0.0.0 stays IPv4 as HTTP does; :: keeps the dual-stack wildcard', () => {
  assert.equal(narrowWildcard('tcp://*:5557', '::1'), 'tcp://[::1]:5557');
  assert.equal(narrowWildcard('tcp://*:5557', 'fd00:10:244::5'), 'tcp://[fd00:10:244::5]:5557');
  assert.equal(narrowWildcard('tcp://*:5557', '127.0.0.1'), 'tcp://127.0.0.1:5557');
  assert.equal(narrowWildcard('tcp://*:5557', '0.0.0.0'), 'tcp://0.0.0.0:5557');
  assert.equal(narrowWildcard('tcp://*:5557', '::'), 'tcp://*:5557');
  assert.equal(narrowWildcard('tcp://10.0.0.1:5557', '::1'), 'tcp://10.0.0.1:5557');
});

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exit;
}

test('kvgate sim --host [::1] --enable-kvcache --zmq-endpoint tcp://[::1]:port: a bracketed --host listens, the URL is bracketed, events are published over IPv6', async () => {
  const port = await freePortRange(1);
  const child = spawnKvgate(['sim', '--host', '[::1]', '--port', '0', '--profile', 'instant', '--enable-kvcache', '--zmq-endpoint', `tcp://[::1]:${port}`, '--json']);
  try {
    const ready = JSON.parse(await waitForOutput(child, /\{"url".*\}\n/, 60_000)) as { url: string; model: string };
    assert.match(ready.url, /^http:\/\/\[::1\]:\d+$/);
    const topic = await withSub(async (sub) => {
      sub.connect(`tcp://[::1]:${port}`);
      return firstTopic(ready.url, ready.model, sub);
    });
    assert.equal(topic, `kv@[::1]:${new URL(ready.url).port}@${ready.model}`);
  } finally {
    await stop(child);
  }
});
