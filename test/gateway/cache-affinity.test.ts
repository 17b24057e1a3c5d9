import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fleetWithGateway, MODEL, post } from './helpers.js';
import { parsePromText } from '../helpers/prom-text.js';

async function hits(url: string): Promise<number> {
  const { samples } = parsePromText(await (await fetch(`${url}/metrics`)).text());
  return samples.find((s) => s.name === 'vllm:prefix_cache_hits_total')!.value;
}

for (const preset of ['kvgate', 'gie-default', 'seed']) {
  test(`${preset}: requests sharing a long prefix land on one replica; distinct prefixes spread`, async () => {
    const { loadConfig } = await import('../../src/router/index.js');
    const env = await fleetWithGateway(3, { config: loadConfig({ preset }) });
    try {
      const shared = 'You are the support assistant for ACME. Policies follow. '.repeat(60);
      const served = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const r = await post(`${env.gateway.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'system', content: shared }, { role: 'user', content: `question ${i}` }], max_tokens: 2 });
        assert.equal(r.status, 200);
        served.add(r.headers.get('x-gateway-destination-endpoint-served')!);
      }
      assert.equal(served.size, 1, `shared prefix went to ${[...served]}`);
      const holder = env.fleet.replicas.find((x) => x.url.endsWith([...served][0]))!;
      const hitCounts = await Promise.all(env.fleet.replicas.map((x) => hits(x.url)));
      assert.ok((await hits(holder.url)) > 7 * 800, 'the holder\'s own prefix-cache counter shows the hits');
      assert.equal(hitCounts.filter((h) => h > 0).length, 1, 'no other replica saw hits');

      const spread = new Set<string>();
      for (let i = 0; i < 9; i++) {
        const r = await post(`${env.gateway.url}/v1/completions`, { model: MODEL, prompt: `unrelated document ${i}: ${String(i).repeat(1500)}`, max_tokens: 2 });
        spread.add(r.headers.get('x-gateway-destination-endpoint-served')!);
      }
      assert.ok(spread.size >= 2, `distinct prefixes used ${spread.size} replicas`);
    } finally {
      await env.close();
    }
  });
}
