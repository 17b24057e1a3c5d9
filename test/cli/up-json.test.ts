// kvgate up --json names the routing config in force: the preset, or the --config-file's path
// (it printed "preset": null and no file, so a script could not tell what the fleet routes with).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';

async function readyLine(args: string[]): Promise<Record<string, unknown>> {
  const child = spawnKvgate(['up', '--json', '--replicas', '1', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', ...args]);
  try {
    return JSON.parse(await waitForOutput(child, /\{"gateway_url".*\}\n/, 60_000)) as Record<string, unknown>;
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
}

test('up --json: config_file is the --config-file path (preset null), and null with a preset', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-up-json-')), 'mine.yaml');
  copyFileSync(new URL('../../presets/round-robin.yaml', import.meta.url), file);
  const withFile = await readyLine(['--config-file', file]);
  assert.equal(withFile.config_file, file);
  assert.equal(withFile.preset, null, 'no preset is in force');
  const withPreset = await readyLine(['--preset', 'random']);
  assert.equal(withPreset.preset, 'random');
  assert.equal(withPreset.config_file, null);
});
