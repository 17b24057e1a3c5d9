// A blank numeric flag (an unset variable in `--grpc-port "$PORT"`) is an error naming the flag,
// not 0: Number("") is 0, so `epp --grpc-port ""` listened on a random port and
// `--sheddable-max-fill ""` gave sheddable requests no batch slot, both without a word.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { runKvgate } from '../helpers/cli.js';
import { intArg, numberArg, portArg } from '../../src/cli/parse.js';

test('intArg, portArg and numberArg refuse an empty or blank value instead of reading it as 0', () => {
  for (const v of ['', ' ', '\t']) {
    assert.throws(() => intArg('--max-queue-requests', 0)(v), (e: unknown) => e instanceof InvalidArgumentError && /--max-queue-requests must be an integer >= 0/.test(e.message), `intArg(${JSON.stringify(v)})`);
    assert.throws(() => portArg('--grpc-port')(v), (e: unknown) => e instanceof InvalidArgumentError && /--grpc-port must be a port number from 0 to 65535/.test(e.message), `portArg(${JSON.stringify(v)})`);
    assert.throws(() => numberArg('--sheddable-max-fill', 0, 1)(v), (e: unknown) => e instanceof InvalidArgumentError && /--sheddable-max-fill must be a number in \[0, 1\]/.test(e.message), `numberArg(${JSON.stringify(v)})`);
  }
  // 0 written out is still 0 where the flag takes it.
  assert.equal(intArg('--max-queue-requests', 0)('0'), 0);
  assert.equal(portArg('--grpc-port')('0'), 0);
  assert.equal(numberArg('--sheddable-max-fill', 0, 1)('0'), 0);
});

test('kvgate epp --grpc-port "" exits 1 naming the flag before listening', async () => {
  const r = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--secure-serving=false', '--grpc-port', '', '--grpc-health-port', '0', '--metrics-port', '0'], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /--grpc-port must be a port number from 0 to 65535 \(got ""\)/);
  assert.doesNotMatch(r.stdout, /ready/);
});
