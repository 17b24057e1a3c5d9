import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';

const commands = ['up', 'sim', 'serve', 'epp', 'config', 'verify', 'bench', 'cost', 'render', 'preflight'];

test('kvgate --help lists every command and exits 0', async () => {
  const r = await runKvgate(['--help']);
  assert.equal(r.code, 0);
  for (const c of commands) assert.match(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'), `missing ${c}`);
});

for (const c of commands) {
  test(`kvgate ${c} --help exits 0 and describes the command`, async () => {
    const r = await runKvgate([c, '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Usage: kvgate ${c}`));
  });
}

test('an unknown command exits non-zero with a message', async () => {
  const r = await runKvgate(['no-such-command']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown command/);
});
