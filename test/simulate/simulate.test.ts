import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulate, resolvePolicies, DEFAULT_PATH, type SimulateOptions } from '../../src/simulate/simulate.js';
import { runPolicy } from '../../src/simulate/run-policy.js';
import { RequestPreparer } from '../../src/simulate/requests.js';
import { reportJson } from '../../src/simulate/report.js';
import { renderSimulateHtml } from '../../src/simulate/html.js';
import { loadConfig } from '../../src/router/index.js';

function opts(over: Partial<SimulateOptions> = {}): SimulateOptions {
  return {
    fleet: [{ count: 3, profile: 'qwen2.5-3b-tpu-v6e' }],
    policies: resolvePolicies(['random', 'gie-default', 'kvgate', 'sglang-cache-aware']),
    workload: { workload: 'shared-prefix', seed: 7, numGroups: 5, promptsPerGroup: 4, systemPromptLen: 1500, questionLen: 60, outputLen: 30 },
    load: { kind: 'stages', stages: [{ rate: 10, durationS: 3 }, { rate: 40, durationS: 2 }] },
    seed: 7,
    path: DEFAULT_PATH,
    ...over,
  };
}

test('determinism: the same inputs and seed give byte-identical JSON; another seed does not', async () => {
  const a = reportJson(await simulate(opts()));
  const b = reportJson(await simulate(opts()));
  assert.equal(a, b);
  // Worker threads (the CLI's --parallel) give the same bytes.
  assert.equal(reportJson(await simulate(opts(), undefined, { parallel: 2 })), a);
  const c = reportJson(await simulate(opts({ seed: 8, workload: { ...opts().workload, seed: 8 } })));
  assert.notEqual(a, c);
  // Conversations (turns depend on answers) and a closed loop are deterministic too.
  const mt = opts({ workload: { workload: 'multi-turn', seed: 2, numConversations: 6, turns: 3, systemPromptLen: 300, questionLen: 40, outputLen: 20 }, load: { kind: 'closed', concurrency: 4 } });
  assert.equal(reportJson(await simulate(mt)), reportJson(await simulate(mt)));
});

test('a run accounts every request: counts, tokens, hits bounded by the oracle, stages as offered', async () => {
  const r = await simulate(opts());
  const first = r.policies[0];
  const prompts = first.summary.prompt_tokens;
  for (const p of r.policies) {
    assert.equal(p.summary.errors, 0, p.policy);
    assert.equal(p.summary.requests, first.summary.requests, 'the same arrivals for every policy');
    assert.equal(p.summary.prompt_tokens, prompts, 'the same prompts for every policy');
    assert.equal(p.summary.oracle_hit_pct, first.summary.oracle_hit_pct, 'the oracle does not depend on the policy');
    assert.ok(p.summary.hit_pct! <= p.summary.oracle_hit_pct! + 1e-9, `${p.policy} beats the oracle`);
    assert.equal(p.replicas.reduce((a, x) => a + x.requests, 0), p.summary.ok);
    assert.equal(p.summary.output_tokens, p.summary.ok * 30);
    assert.deepEqual(p.stages.map((s) => s.offered_rps), [10, 40]);
    assert.equal(p.stages.reduce((a, s) => a + s.requests, 0), p.summary.requests);
  }
  // Cache-aware routing finds more of the oracle's reuse than random placement.
  const hit = (name: string) => r.policies.find((p) => p.policy === name)!.summary.hit_pct!;
  assert.ok(hit('gie-default') > hit('random'), `gie-default ${hit('gie-default')} vs random ${hit('random')}`);
});

test('replicas refuse what vLLM refuses: prompts over max_model_len get 400 and the rest are served', async () => {
  const reqs = [
    { kind: 'completions' as const, prompt: 'abc '.repeat(100), maxTokens: 10 },
    { kind: 'completions' as const, prompt: 'abd '.repeat(3000), maxTokens: 10 },
  ];
  const run = await runPolicy({
    policy: 'random',
    config: loadConfig({ preset: 'random' }),
    fleet: [{ count: 2, profile: 'instant', maxModelLen: 2048 }],
    reqs,
    load: { kind: 'closed', concurrency: 1 },
    seed: 1,
    path: DEFAULT_PATH,
    preparer: new RequestPreparer('m'),
  });
  assert.deepEqual(run.records.map((r) => [r.status, r.outputTokens]), [[200, 10], [400, 0]]);
});

test('metrics staleness is modelled: the router sees scrapes every --metrics-interval, and slower scrapes change placement', async () => {
  const base = opts({ policies: resolvePolicies(['gie-default']) });
  const fast = (await simulate(base)).policies[0];
  const slow = (await simulate({ ...base, path: { ...DEFAULT_PATH, metricsIntervalMs: 2000 } })).policies[0];
  assert.notDeepEqual(fast.replicas.map((r) => r.requests), slow.replicas.map((r) => r.requests));
});

test('trace replay: arrivals at timestamp × time scale, windows as stages, shared block ids hit the cache', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-sim-trace-'));
  const file = join(dir, 't.jsonl');
  const lines = [];
  for (let i = 0; i < 40; i++) lines.push(JSON.stringify({ timestamp: i * 250, input_length: 1100, output_length: 8, hash_ids: [0, 1, 100 + i] }));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const r = await simulate(opts({ trace: { path: file, timeScale: 0.5, windowS: 1 }, policies: resolvePolicies(['gie-default']) }));
  const p = r.policies[0];
  assert.equal(p.summary.requests, 40);
  assert.equal(p.summary.prompt_tokens, 40 * 1100);
  // 40 arrivals over 40 × 250 ms × 0.5 = 5 s: five one-second windows of 8 requests.
  assert.deepEqual(p.stages.map((s) => [s.requests, s.offered_rps]), [[8, 8], [8, 8], [8, 8], [8, 8], [8, 8]]);
  // Blocks 0 and 1 (1,024 tokens) are shared: the oracle serves 1,024 of 1,100 from the second request on.
  assert.equal(p.summary.oracle_hit_pct!.toFixed(3), (((39 * 1024) / (40 * 1100)) * 100).toFixed(3));
  assert.ok(p.summary.hit_pct! > 80, `hit ${p.summary.hit_pct}`);
});

test('HTML report renders in headless Chromium with TTFT, hit-rate, throughput and per-replica charts', async () => {
  const r = await simulate(opts());
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-sim-html-'));
  const file = join(dir, 'r.html');
  writeFileSync(file, renderSimulateHtml(r));
  const { chromium } = await import('playwright-core');
  assert.ok(existsSync('/usr/bin/chromium'), 'Chromium is required for this test: apt-get install chromium');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${file}`);
    assert.equal(await page.locator('svg').count(), 4);
    const labels = await Promise.all([0, 1, 2, 3].map((i) => page.locator('svg').nth(i).getAttribute('aria-label')));
    assert.deepEqual(labels, ['TTFT against offered load', 'Prefix cache hit rate against offered load', 'Output throughput against offered load', 'Requests per replica']);
    // 4 policies × (p50 + p90) TTFT lines, 4 hit-rate lines + the oracle, 4 throughput lines, 4 × 3 bars.
    assert.equal(await page.locator('svg').nth(0).locator('.series').count(), 8);
    assert.equal(await page.locator('svg').nth(1).locator('.series').count(), 5);
    assert.equal(await page.locator('svg').nth(2).locator('.series').count(), 4);
    assert.equal(await page.locator('svg').nth(3).locator('.series').count(), 12);
    assert.match(await page.locator('pre').first().innerText(), /hit % \(oracle %\)/);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
