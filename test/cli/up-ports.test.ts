import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { freePortRange } from '../helpers/ports.js';
import { checkUpPorts, upKvEventsBase } from '../../src/cli/commands/up.js';

function assertUpError(r: { code: number | null; stdout: string; stderr: string }, message: RegExp) {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.doesNotMatch(r.stderr, /already in use|--kv-events-endpoint|invalid --port/, 'named by its own flags, before anything started');
  assert.equal(r.stdout, '');
}

test("up: its own overlapping port ranges are named by their flags before anything starts", async () => {
  const r = await runKvgate(['up', '--port', '22302', '--sim-base-port', '22300', '--kv-events-base-port', '22301', '--profile', 'instant']);
  assertUpError(r, /^kvgate: kvgate up's own ports overlap: --sim-base-port 22300 \(replicas on 22300-22302\) and --kv-events-base-port 22301 \(KV events on 22301-22303, replays on 22304-22306\) share 22301-22302; .*--port 22302 \(the gateway\) share 22302: move --sim-base-port, --kv-events-base-port and --port apart/m);
  // The replay range counts too: replicas right after the KV-event ports collide with the replays.
  const replay = await runKvgate(['up', '--port', '0', '--replicas', '2', '--sim-base-port', '22412', '--kv-events-base-port', '22410', '--profile', 'instant']);
  assertUpError(replay, /--sim-base-port 22412 \(replicas on 22412-22413\) and --kv-events-base-port 22410 \(KV events on 22410-22411, replays on 22412-22413\) share 22412-22413/);
});

test('up: a replica or KV-event range past 65535 names --sim-base-port / --kv-events-base-port and the range it needs', async () => {
  const sim = await runKvgate(['up', '--port', '0', '--sim-base-port', '65534', '--profile', 'instant']);
  assertUpError(sim, /^kvgate: --sim-base-port 65534: 3 replicas \(--replicas\) need ports 65534-65536, past 65535: give --sim-base-port 65533 or lower/m);
  const kv = await runKvgate(['up', '--port', '0', '--sim-base-port', '22500', '--kv-events-base-port', '65531', '--profile', 'instant']);
  assertUpError(kv, /^kvgate: --kv-events-base-port 65531: 3 replicas \(--replicas\) need KV-event ports 65531-65533 and replay ports 65534-65536, past 65535: give --kv-events-base-port 65530 or lower \(0 = off\)/m);
});

test('checkUpPorts: the defaults, free ports (0) and ranges that only touch pass', () => {
  checkUpPorts({ replicas: 3, simBasePort: 8000, kvEventsBasePort: 5557, port: 8080 });
  checkUpPorts({ replicas: 3, simBasePort: 0, kvEventsBasePort: 8000, port: 8001 }); // KV events on free ports with --sim-base-port 0
  checkUpPorts({ replicas: 2, simBasePort: 9000, kvEventsBasePort: 9002, port: 9006 });
  checkUpPorts({ replicas: 1, simBasePort: 65533, kvEventsBasePort: 65534, port: 0 }); // the replay port is 65535
  assert.throws(() => checkUpPorts({ replicas: 81, simBasePort: 8000, kvEventsBasePort: 5557, port: 8080 }), /--sim-base-port 8000 \(replicas on 8000-8080\) and --port 8080 \(the gateway\) share 8080/);
});

/** Resolves true when something accepts a TCP connection on 127.0.0.1:port. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => (sock.destroy(), resolve(true)));
    sock.once('error', () => resolve(false));
  });

test('up --sim-base-port 0 --kv-events-base-port N: the replicas publish on N, N+1 and replay on N+2, N+3', async () => {
  const base = await freePortRange(4);
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', String(base), '--replicas', '2', '--profile', 'instant', '--json']);
  try {
    const line = await waitForOutput(child, /\{"gateway_url".*\}\n/, 60_000);
    const ready = JSON.parse(line) as { kv_events: { port: number; replayPort: number }[] | null };
    assert.deepEqual(ready.kv_events, [
      { port: base, replayPort: base + 2 },
      { port: base + 1, replayPort: base + 3 },
    ]);
    for (let p = base; p < base + 4; p++) assert.equal(await accepts(p), true, `a replica listens on ${p}`);
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});

test('up --sim-base-port 0 --kv-events-base-port N with N in use: one line naming --kv-events-base-port, exit 1', async () => {
  const base = await freePortRange(2);
  const held: Server = createServer();
  await new Promise<void>((r) => held.listen(base, '127.0.0.1', r));
  try {
    const r = await runKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', String(base), '--replicas', '1', '--profile', 'instant'], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^kvgate: --kv-events-base-port: KV-events port ${base} or its replay port ${base + 1} is already in use`, 'm'));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.stdout, '');
  } finally {
    held.close();
  }
});

test('upKvEventsBase: 0 is off; the default turns into free ports beside free replica ports; a given base always stands', () => {
  assert.equal(upKvEventsBase({ replicas: 3, simBasePort: 8000, kvEventsBasePort: 0 }), undefined);
  assert.equal(upKvEventsBase({ replicas: 3, simBasePort: 0, kvEventsBasePort: 0, kvEventsBasePortGiven: true }), undefined);
  assert.equal(upKvEventsBase({ replicas: 3, simBasePort: 8000, kvEventsBasePort: 5557 }), 5557);
  assert.equal(upKvEventsBase({ replicas: 3, simBasePort: 0, kvEventsBasePort: 5557 }), 0);
  assert.equal(upKvEventsBase({ replicas: 3, simBasePort: 0, kvEventsBasePort: 5557, kvEventsBasePortGiven: true }), 5557);
  // A given base is checked beside free replica ports too: against --port here.
  assert.throws(
    () => checkUpPorts({ replicas: 3, simBasePort: 0, kvEventsBasePort: 8000, kvEventsBasePortGiven: true, port: 8001 }),
    /--kv-events-base-port 8000 \(KV events on 8000-8002, replays on 8003-8005\) and --port 8001 \(the gateway\) share 8001/,
  );
});
