// --kv-events-bind tcp://*:70000 bound port 4464 (libzmq keeps the port's low 16 bits) and
// tcp://*:-1 port 65535, with nothing said; engines publishing to 70000 never reached it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';
import { zmqTcpPortError } from '../../src/shared/zmq-tcp-port.js';

test('zmqTcpPortError: a tcp:// port outside 0–65535 (or not a number) is named; *, ephemeral, ipc:// and good ports pass', () => {
  for (const e of ['tcp://*:70000', 'tcp://*:65536', 'tcp://*:-1', 'tcp://127.0.0.1:abc', 'tcp://[::1]:', 'tcp://*:1e3']) assert.match(zmqTcpPortError(e) ?? '', /is not a TCP port \(0 to 65535, or \* for any\)/, e);
  for (const e of ['tcp://*:5557', 'tcp://*:0', 'tcp://*:65535', 'tcp://*:*', 'tcp://[::1]:5557', 'tcp://eth0;10.0.0.1:5557', 'tcp://*:!', 'ipc:///tmp/kv', 'inproc://kv']) assert.equal(zmqTcpPortError(e), undefined, e);
});

test('kvgate epp --kv-events-bind tcp://*:70000 exits 1 naming the flag and the port, before listening', async () => {
  const r = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--secure-serving=false', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--kv-events-bind', 'tcp://127.0.0.1:70000'], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^kvgate: cannot bind --kv-events-bind tcp:\/\/127\.0\.0\.1:70000: port "70000" is not a TCP port \(0 to 65535, or \* for any\)$/m);
  assert.doesNotMatch(r.stdout, /ready/);
});
