import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { checkUpPorts } from '../../src/cli/commands/up.js';

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
