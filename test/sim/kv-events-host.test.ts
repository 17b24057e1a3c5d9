// Where the KV-event sockets listen: on the host HTTP serves on (`kvgate up --host`, `kvgate sim
// --host`, 127.0.0.1 by default), not on every interface, unless the user wrote a wildcard
// endpoint. Before, `kvgate up` served HTTP on 127.0.0.1 and its ZeroMQ publish and replay
// sockets on 0.0.0.0, while its startup table printed tcp://127.0.0.1:….
//
// The sockets' local addresses are read from /proc/net/tcp{,6} (Linux; the tests skip elsewhere):
// a client on loopback cannot tell a 127.0.0.1 bind from a 0.0.0.0 one, and a non-loopback
// address to try from outside the host may not exist on the machine running the tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { freePortRange } from '../helpers/ports.js';
import { narrowWildcard } from '../../src/sim/kv-event-publisher.js';
import { simKvEventTarget } from '../../src/cli/sim-kv-events.js';
import { startSimServer } from '../../src/sim/server.js';

const PROC = existsSync('/proc/net/tcp');
const ANY6 = `[${'0'.repeat(32)}]`;
const skip = PROC ? false : 'needs /proc/net/tcp (Linux)';

/** A /proc/net/tcp address word: the kernel prints each 32-bit word of the address in host byte order. */
function procWord(hex: string): Buffer {
  const b = Buffer.from(hex, 'hex');
  return endianness() === 'LE' ? b.reverse() : b;
}

/** The local addresses of the sockets listening on TCP `port` (IPv4 dotted, IPv6 as `[hex]`). */
function listeningOn(port: number): string[] {
  const out: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== '0A') continue; // 0A = LISTEN
      const [addr, portHex] = f[1].split(':');
      if (parseInt(portHex, 16) !== port) continue;
      if (addr.length === 8) out.push([...procWord(addr)].join('.'));
      else out.push(`[${[0, 8, 16, 24].map((i) => procWord(addr.slice(i, i + 8)).toString('hex')).join('')}]`);
    }
  }
  return out.sort();
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exit;
}

test('kvgate up: the replicas bind their KV-event and replay sockets on --host (127.0.0.1 by default), where HTTP listens', { skip }, async () => {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--replicas', '2', '--profile', 'instant', '--json']);
  try {
    const line = await waitForOutput(child, /\{"gateway_url".*\}\n/, 60_000);
    const ready = JSON.parse(line) as { replicas: string[]; kv_events: { port: number; replayPort: number }[] | null };
    assert.equal(ready.kv_events?.length, 2, 'KV events are on by default');
    for (const [i, kv] of ready.kv_events!.entries()) {
      assert.deepEqual(listeningOn(Number(new URL(ready.replicas[i]).port)), ['127.0.0.1'], `replica ${i}'s HTTP`);
      assert.deepEqual(listeningOn(kv.port), ['127.0.0.1'], `replica ${i}'s KV-event socket (port ${kv.port})`);
      assert.deepEqual(listeningOn(kv.replayPort), ['127.0.0.1'], `replica ${i}'s replay socket (port ${kv.replayPort})`);
    }
  } finally {
    await stop(child);
  }
});

test('kvgate sim: an endpoint written with `*` binds every interface, as vLLM (IPv4 and IPv6: one dual-stack socket)', { skip }, async () => {
  const base = await freePortRange(2);
  const explicit = spawnKvgate(['sim', '--port', '0', '--profile', 'instant', '--kv-events-endpoint', `tcp://*:${base}`, '--kv-events-replay-endpoint', `tcp://*:${base + 1}`]);
  try {
    await waitForOutput(explicit, /listening on http/, 30_000);
    // ZeroMQ's IPv6 option makes `*` the IPv6 any-address, which also takes IPv4 (IPV6_V6ONLY off).
    assert.deepEqual(listeningOn(base), [ANY6], 'the user asked for every interface');
    assert.deepEqual(listeningOn(base + 1), [ANY6]);
  } finally {
    await stop(explicit);
  }
});

test("kvgate sim: vLLM's default endpoint (--kv-events-config without one) is bound on the HTTP host; one the user wrote is kept", () => {
  const base = { kvEventsReplayQueueSize: 1000 };
  assert.deepEqual(simKvEventTarget({ ...base, kvEventsConfig: { enable_kv_cache_events: true } }), { endpoint: 'tcp://*:5557', topic: '', replayEndpoint: undefined, replayBuffer: 1000, bindHttpHost: true });
  assert.equal(simKvEventTarget({ ...base, kvEventsConfig: { enable_kv_cache_events: true, endpoint: 'tcp://*:6000' } }).bindHttpHost, false);
  assert.equal(simKvEventTarget({ ...base, kvEventsEndpoint: 'tcp://*:6000', kvEventsConfig: { enable_kv_cache_events: true } }).bindHttpHost, false);
  assert.equal(simKvEventTarget({ ...base, kvEventsConfig: { enable_kv_cache_events: false } }).endpoint, undefined);
  assert.deepEqual(simKvEventTarget({ ...base, enableKvcache: true }), { endpoint: 'tcp://127.0.0.1:5557', topic: 'kv@{host}:{port}@{model}', replayEndpoint: undefined, replayBuffer: 1000, bindHttpHost: false });
});

test('a sim told to bind its default endpoint on the HTTP host listens there, not on every interface', { skip }, async () => {
  const port = await freePortRange(1);
  const sim = await startSimServer({ port: 0, profile: 'instant', kvEventsEndpoint: `tcp://*:${port}`, kvEventsBindHttpHost: { endpoint: true, replay: false } });
  try {
    assert.deepEqual(listeningOn(port), ['127.0.0.1']);
  } finally {
    await sim.close();
  }
});

test('narrowWildcard: a tcp://*:port takes the HTTP address (0.0.0.0 too: IPv4 as HTTP); :: stays the wildcard; anything else is unchanged', () => {
  assert.equal(narrowWildcard('tcp://*:5557', '127.0.0.1'), 'tcp://127.0.0.1:5557');
  assert.equal(narrowWildcard('tcp://*:5557', '::1'), 'tcp://[::1]:5557');
  assert.equal(narrowWildcard('tcp://*:5557', '0.0.0.0'), 'tcp://0.0.0.0:5557');
  assert.equal(narrowWildcard('tcp://*:5557', '::'), 'tcp://*:5557');
  assert.equal(narrowWildcard('tcp://10.0.0.1:5557', '127.0.0.1'), 'tcp://10.0.0.1:5557');
  assert.equal(narrowWildcard('ipc:///tmp/kv', '127.0.0.1'), 'ipc:///tmp/kv');
});
