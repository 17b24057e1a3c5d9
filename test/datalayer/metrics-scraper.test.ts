import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryDatastore } from '../../src/router/index.js';
import { startMetricsScraper, parseEndpointMetrics } from '../../src/datalayer/index.js';
import { startSimServer } from '../../src/sim/server.js';
import { nextScrapeSlot, scrapePhase } from '../../src/datalayer/metrics-scraper.js';
import fc from 'fast-check';

const VLLM = `# HELP vllm:num_requests_running x
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m",engine="0"} 3
vllm:num_requests_waiting{model_name="m",engine="0"} 7
vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.42
vllm:cache_config_info{block_size="16",num_gpu_blocks="2048",enable_prefix_caching="True",engine="0"} 1
vllm:lora_requests_info{max_lora="2",running_lora_adapters="sql,chat",waiting_lora_adapters=""} 1.7e9
`;

test('parses vLLM names, cache_config_info and LoRA info; legacy and SGLang names as fallbacks', () => {
  const m = parseEndpointMetrics(VLLM, 'vllm', 5);
  assert.deepEqual(
    { q: m.waitingQueueSize, r: m.runningRequests, kv: m.kvCacheUsage, bs: m.blockSize, nb: m.numGpuBlocks, lora: m.activeLoras, max: m.maxLoras, at: m.updatedAtMs },
    { q: 7, r: 3, kv: 0.42, bs: 16, nb: 2048, lora: ['sql', 'chat'], max: 2, at: 5 },
  );
  assert.equal(parseEndpointMetrics('vllm:gpu_cache_usage_perc{model_name="m"} 0.3\n', 'vllm', 0).kvCacheUsage, 0.3);
  const sg = parseEndpointMetrics('sglang:num_queue_reqs{a="b"} 4\nsglang:num_running_reqs 2\nsglang:token_usage 0.5\n', 'sglang', 0);
  assert.deepEqual([sg.waitingQueueSize, sg.runningRequests, sg.kvCacheUsage], [4, 2, 0.5]);
});

test('scrapes a live simulator and keeps going when another endpoint fails', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', kvCacheSize: 777 });
  const broken = createServer((_q, s) => s.writeHead(500).end('no'));
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  const bport = (broken.address() as AddressInfo).port;
  const ds = new MemoryDatastore();
  ds.upsertEndpoint({ id: `127.0.0.1:${sim.port}`, host: '127.0.0.1', port: sim.port, url: sim.url, labels: {} });
  ds.upsertEndpoint({ id: `127.0.0.1:${bport}`, host: '127.0.0.1', port: bport, url: `http://127.0.0.1:${bport}`, labels: {} });
  const scraper = startMetricsScraper(ds, { intervalMs: 20 });
  try {
    for (let i = 0; i < 100 && !ds.get(`127.0.0.1:${sim.port}`)!.metrics; i++) await new Promise((r) => setTimeout(r, 20));
    const m = ds.get(`127.0.0.1:${sim.port}`)!.metrics!;
    assert.equal(m.numGpuBlocks, 777);
    assert.equal(m.blockSize, 16);
    assert.equal(ds.get(`127.0.0.1:${bport}`)!.metrics, undefined, 'a failing endpoint has no metrics (stale)');
    // The scraper keeps going: wait for more rounds (by count, not by time, so a busy machine only waits longer).
    for (let i = 0; i < 500 && scraper.counts.ok < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(scraper.counts.ok >= 3, `ok ${scraper.counts.ok}`);
    assert.ok(scraper.counts.failed >= 1);
  } finally {
    await scraper.stop();
    broken.close();
    await sim.close();
  }
});

test('endpoints scrape on grids spread over the interval: any n consecutive phases leave gaps of at least 0.38·interval/n', () => {
  for (const first of [0, 5, 100]) {
    for (let n = 2; n <= 64; n++) {
      const phases = Array.from({ length: n }, (_, i) => scrapePhase(first + i, 50)).sort((a, b) => a - b);
      for (const p of phases) assert.ok(p >= 0 && p < 50);
      const gaps = phases.map((p, i) => (i + 1 < n ? phases[i + 1] : phases[0] + 50) - p);
      assert.ok(Math.min(...gaps) >= (0.38 * 50) / n, `n=${n} from ${first}: smallest gap ${Math.min(...gaps)}`);
    }
  }
});

test('each grid slot is scraped once: the next slot after the last, or the first still ahead after an overrun', () => {
  assert.equal(nextScrapeSlot(10, 50, 4, 209.6), 5, 'the timer fired 0.4 ms early and the scrape ended before its point: still the next slot');
  assert.equal(nextScrapeSlot(10, 50, 4, 215), 5);
  assert.equal(nextScrapeSlot(10, 50, 4, 1000), 20, 'an overrun skips to the first point after it ends');
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -5, max: 100_000 }), fc.double({ min: 0, max: 5000, noNaN: true }), (phase0, interval, last, late) => {
      const phase = phase0 % interval;
      const now = Math.max(0, phase + last * interval + late - interval / 2); // scrape end, around its slot
      const next = nextScrapeSlot(phase, interval, last, now);
      assert.ok(next > last, 'never the same slot twice');
      assert.ok(phase + next * interval >= now || next === last + 1, 'never a slot already past, unless it is the next one');
      assert.ok(phase + (next - 1) * interval < now || next === last + 1, 'no slot skipped that is still ahead');
    }),
    { seed: Number(process.env.FUZZ_SEED ?? 3), numRuns: Number(process.env.FUZZ_RUNS ?? 2000) },
  );
});

test('a scrape or probe interval of 0, NaN, Infinity, under 1 ms or over 2^31-1 ms is refused, not run as a 1 ms busy loop', async () => {
  const { PoolRuntime, StaticEndpointSource } = await import('../../src/datalayer/index.js');
  const { EndpointHealth } = await import('../../src/datalayer/endpoint-health.js');
  const { silentLogger } = await import('../../src/shared/logger.js');
  for (const intervalMs of [0, -5, 0.5, NaN, Infinity, 2 ** 31]) {
    const ds = new MemoryDatastore();
    assert.throws(() => startMetricsScraper(ds, { intervalMs }), /metrics scrape interval must be from 1 ms/, String(intervalMs));
    assert.throws(() => new PoolRuntime({ source: new StaticEndpointSource([]), datastore: ds, metricsIntervalMs: intervalMs }), /metrics scrape interval/, String(intervalMs));
    if (intervalMs !== 0) {
      assert.throws(() => new EndpointHealth(ds, { intervalMs, ejectAfter: 3, cooldownMs: 1000, maxCooldownMs: 30_000 }, silentLogger()), /health probe interval must be 0 \(off\) or from 1 ms/, String(intervalMs));
    }
  }
});
