import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';

test("bench takes the seed script's --requests, --concurrent and --prompt", async () => {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant']);
  child.stdout!.resume();
  child.stderr!.resume();
  try {
    const url = (await waitForOutput(child, /fleet ready: (http:\/\/\S+)/, 30_000)).split(' ').pop()!;
    const out = join(mkdtempSync(join(tmpdir(), 'kvgate-bench-seed-')), 'r.json');
    const prompt = `Translate to Spanish: ${'Good morning, my friend. '.repeat(40)}`;
    const r = await runKvgate(['bench', '--url', url, '--prompt', prompt, '--requests', '6', '--concurrent', '3', '--output-len', '4', '--out', out, '--json'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(report.config.concurrency, 3);
    assert.equal(report.config.num_requests, 6);
    assert.equal(report.summary.ok, 6);
    // One prompt six times: repeats hit the prefix cache (three cold ones can start in parallel on three replicas).
    assert.equal(report.summary.prompt_tokens % 6, 0, 'the same prompt each time');
    assert.ok(report.summary.cached_tokens > 0, JSON.stringify(report.summary));
    const clash = await runKvgate(['bench', '--url', url, '--requests', '6', '--num-requests', '7']);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /--requests is --num-requests \(the seed script's name\): give one of them/);
  } finally {
    child.kill('SIGTERM');
  }
});
