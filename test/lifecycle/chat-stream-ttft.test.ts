// A streamed chat's first byte is its first token, as from vLLM: the sim sends the role chunk with
// the first token (vLLM's serving_chat.py sends it in the first iteration over the engine's
// outputs), so a gateway timing the first byte reads the replica's time to first token on chat as
// on completions — through the gateway (openai client) and through the EPP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startSimServer } from '../../src/sim/server.js';
import { bothIngresses as both } from '../helpers/both-ingresses.js';

/** The sim's configured time to first token: its first token cannot come sooner, however fast the machine. */
const TTFT_MS = 500;

/** `inference_objective_request_ttft_seconds` buckets summed over label sets: le → count. */
async function ttftBuckets(url: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await (await fetch(url)).text()).split('\n')) {
    const m = /^inference_objective_request_ttft_seconds_bucket\{.*le="([^"]+)".*\} (\d+)/.exec(line);
    if (m) out.set(m[1], (out.get(m[1]) ?? 0) + Number(m[2]));
  }
  return out;
}

test(`a streamed chat against a sim with a ${TTFT_MS} ms time to first token: the role chunk comes with the first token, and both ingresses record a TTFT above 0.4 s`, async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', model: 'modelA', timeToFirstToken: TTFT_MS });
  const env = await both([sim]);
  try {
    const client = new OpenAI({ baseURL: `${env.gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'modelA', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3, stream: true });
    const deltas: Record<string, unknown>[] = [];
    for await (const chunk of stream) deltas.push(...chunk.choices.map((c) => ({ ...c.delta })));
    assert.deepEqual(deltas[0], { role: 'assistant', content: '' }, 'the stream opens with the role chunk');
    assert.equal(deltas.length, 4, 'then one chunk per token');
    assert.ok(deltas.slice(1).every((d) => typeof d.content === 'string' && d.content.length > 0 && d.role === undefined));

    const viaEpp = await env.envoy('/v1/chat/completions', { model: 'modelA', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3, stream: true });
    assert.equal(viaEpp.status, 200);
    const events = viaEpp.body.toString().split('\n\n').filter((e) => e.startsWith('data: {'));
    assert.deepEqual(JSON.parse(events[0].slice(6)).choices[0].delta, { role: 'assistant', content: '' });

    // Each ingress times the first response byte. The sim holds every byte of the body until its
    // first token (≥ 500 ms after it took the request), so the one request each recorded is past
    // the 0.4 s bucket; with the role chunk sent on arrival it fell in the 0.005 s one.
    for (const [name, url] of [['gateway', `${env.gw.url}/metrics`], ['EPP', env.eppMetricsUrl]]) {
      const b = await ttftBuckets(url);
      assert.equal(b.get('+Inf'), 1, `${name}: one TTFT observed`);
      assert.equal(b.get('0.4'), 0, `${name}: TTFT recorded above 0.4 s (buckets: ${JSON.stringify([...b])})`);
    }
  } finally {
    await env.close();
    await sim.close();
  }
});
