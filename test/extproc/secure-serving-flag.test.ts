// kvgate epp is a drop-in for the GIE EPP, whose --secure-serving is a Go bool flag
// (strconv.ParseBool): a manifest saying --secure-serving=False or =F was refused here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';

/** Starts `kvgate epp` with `flag`, returns the ready line's transport ("TLS" or "plaintext"), and stops it. */
async function transportWith(flag: string[]): Promise<string> {
  const child = spawnKvgate(['epp', '--endpoints', '127.0.0.1:9', '--host', '127.0.0.1', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--health-interval', '0', ...flag]);
  try {
    const line = await waitForOutput(child, /kvgate epp ready: ext_proc \S+ \((TLS|plaintext)\)/);
    return /\((TLS|plaintext)\)/.exec(line)![1];
  } finally {
    child.kill('SIGTERM');
  }
}

test('epp --secure-serving reads booleans as Go does (False, F, 0 / TRUE, t, 1; bare = true); anything else is an error naming the flag', async () => {
  assert.equal(await transportWith(['--secure-serving=False']), 'plaintext');
  assert.equal(await transportWith(['--secure-serving=F']), 'plaintext');
  assert.equal(await transportWith(['--secure-serving', 'false']), 'plaintext');
  assert.equal(await transportWith(['--secure-serving=TRUE']), 'TLS');
  assert.equal(await transportWith(['--secure-serving']), 'TLS');
  const bad = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--secure-serving=yes']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^kvgate: --secure-serving must be true or false \(got "yes"\)$/m);
});
