import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';
import { parsePromText } from '../helpers/prom-text.js';
import { freePort } from '../helpers/ports.js';

async function replicaCounters(url: string) {
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  const v = (n: string) => samples.filter((s) => s.name === n).reduce((a, s) => a + s.value, 0);
  return { hits: v('vllm:prefix_cache_hits_total'), queries: v('vllm:prefix_cache_queries_total'), requests: v('vllm:request_success_total') };
}

test('bench against kvgate up: hit rate and per-endpoint load agree with the replicas\' own metrics; HTML renders in Chromium', async () => {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--json']);
  const line = await waitForOutput(child, /\{"gateway_url".*\}/, 30_000);
  const { gateway_url, replicas } = JSON.parse(line) as { gateway_url: string; replicas: string[] };
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-'));
  try {
    const before = await Promise.all(replicas.map(replicaCounters));
    const r = await runKvgate(['bench', '--url', gateway_url, '--workload', 'shared-prefix', '--num-groups', '4', '--prompts-per-group', '6', '--system-prompt-len', '300', '--question-len', '20', '--output-len', '5', '--concurrency', '4', '--out', join(dir, 'r.json'), '--html', join(dir, 'r.html')], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const after = await Promise.all(replicas.map(replicaCounters));
    const report = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8'));
    assert.equal(report.summary.ok, 24);
    const hits = after.reduce((a, x, i) => a + x.hits - before[i].hits, 0);
    const queries = after.reduce((a, x, i) => a + x.queries - before[i].queries, 0);
    assert.equal(report.summary.cached_tokens, hits);
    assert.equal(report.summary.prompt_tokens, queries);
    assert.ok(Math.abs(report.summary.cache_hit_pct - (hits / queries) * 100) < 1e-9);
    assert.ok(report.summary.cache_hit_pct > 50, `hit rate ${report.summary.cache_hit_pct}`);
    for (const [i, url] of replicas.entries()) {
      const id = url.replace('http://', '');
      assert.equal(report.summary.per_endpoint[id] ?? 0, after[i].requests - before[i].requests, id);
    }

    const { chromium } = await import('playwright-core');
    assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${join(dir, 'r.html')}`);
      assert.equal(await page.locator('svg').count(), 4);
      assert.ok((await page.locator('svg .series').count()) >= 4, 'charts have data');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
    const cmp = await runKvgate(['bench', 'compare', join(dir, 'r.json'), join(dir, 'r.json'), '--html', join(dir, 'c.html')]);
    assert.equal(cmp.code, 0, cmp.stderr);
    assert.match(cmp.stdout, /cache hit %/);
    assert.ok(existsSync(join(dir, 'c.html')));
  } finally {
    child.kill('SIGTERM');
  }
});

test('Ctrl-C mid-run still writes a partial report (exit 130)', async () => {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'qwen2.5-3b-tpu-v6e', '--json']);
  const line = await waitForOutput(child, /\{"gateway_url".*\}/, 30_000);
  const { gateway_url } = JSON.parse(line);
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-'));
  try {
    const bench = spawnKvgate(['bench', '--url', gateway_url, '--workload', 'random', '--num-requests', '400', '--input-len', '100', '--output-len', '30', '--concurrency', '4', '--out', join(dir, 'p.json')]);
    let err = '';
    bench.stderr!.on('data', (d) => (err += d));
    await waitForOutput(bench, /bench: \d+\/400 requests done/, 30_000); // the first request finished
    await new Promise((r) => setTimeout(r, 300));
    const exit = new Promise<number | null>((res) => bench.on('exit', (c) => res(c)));
    bench.kill('SIGINT');
    assert.equal(await exit, 130);
    const report = JSON.parse(readFileSync(join(dir, 'p.json'), 'utf8'));
    assert.equal(report.partial, true);
    assert.ok(report.summary.ok > 0 && report.summary.ok < 400, `ok ${report.summary.ok}`);
    assert.doesNotMatch(err, /at .*\.ts:\d+/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('bench: unreachable URL and bad flags give clear messages and exit 1', async () => {
  const port = await freePort();
  const r = await runKvgate(['bench', '--url', `http://127.0.0.1:${port}`, '--num-requests', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /connection refused at http:\/\/127\.0\.0\.1/);
  const s = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--stages', '5-10']);
  assert.equal(s.code, 1);
  assert.match(s.stderr, /--stages entries look like rate:seconds/);
  const w = await runKvgate(['bench', '--url', 'http://127.0.0.1:1', '--workload', 'bogus']);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /--workload/);
});

test('HTTP errors mid-run are counted by status, not fatal', async () => {
  const { startSimServer } = await import('../../src/sim/server.js');
  const sim = await startSimServer({ port: 0, profile: 'instant', failureInjectionRate: 40, failureTypes: ['server_error', 'rate_limit'] });
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-bench-'));
  try {
    const r = await runKvgate(['bench', '--url', sim.url, '--workload', 'random', '--num-requests', '60', '--input-len', '20', '--output-len', '3', '--out', join(dir, 'e.json')]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(readFileSync(join(dir, 'e.json'), 'utf8'));
    assert.equal(rep.summary.requests, 60);
    assert.ok(rep.summary.errors > 5 && rep.summary.ok > 5, JSON.stringify(rep.summary.errors_by_status));
    assert.deepEqual(Object.keys(rep.summary.errors_by_status).sort(), ['429', '503']);
  } finally {
    await sim.close();
  }
});
