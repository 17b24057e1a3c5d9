import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';

// Before: "kvgate: bench/fixtures/nope.yaml: cannot read: ENOENT", naming the file but not the flag
// it came from (kvgate serve says "--config-file: cannot read …").
test('kvgate simulate: a policy file that is missing or not YAML is named with the flag it came from', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-simulate-policy-'));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'foo: [\n');
  for (const [args, re] of [
    [['simulate', '--compare', `kvgate,${join(dir, 'missing.yaml')}`], /^kvgate: --compare: .*missing\.yaml: cannot read: ENOENT$/m],
    [['simulate', '--config-file', join(dir, 'missing.yaml')], /^kvgate: --config-file: .*missing\.yaml: cannot read: ENOENT$/m],
    [['simulate', '--config-file', bad], /^kvgate: --config-file: .*bad\.yaml: invalid YAML/m],
    [['simulate', 'plan', '--slo', 'ttft_p90=1s', '--rate', '1', '--compare', join(dir, 'missing.yaml')], /^kvgate: --compare: .*missing\.yaml: cannot read: ENOENT$/m],
  ] as const) {
    const r = await runKvgate([...args]);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
