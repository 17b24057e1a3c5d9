// A prompt longer than the model's context is refused by the replica at once (vLLM's 400). Through
// both ingresses, in front of real `kvgate sim` replicas: the refusal must leave the router's view
// of that replica as it was — no prompt recorded as cached there, no load counted against it — so
// later requests are routed as if it had never been sent. (Before, one 50,000-token prompt made an
// idle replica get a fraction of its share for tens of seconds.) Only router state is asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer } from '../../src/sim/server.js';
import { parseOpenAIRequest } from '../../src/router/parse-request.js';
import { bothIngresses } from '../helpers/both-ingresses.js';
import { waitFor } from '../gateway/helpers.js';
import type { EndpointPicker } from '../../src/router/router.js';

const MODEL = 'org/a';
const MAX_MODEL_LEN = 1024;

test('a prompt the replica refuses (over max-model-len) is neither cached nor load on it afterwards (gateway and EPP)', async () => {
  const sims = await Promise.all([1, 2, 3].map((seed) => startSimServer({ port: 0, profile: 'instant', model: MODEL, maxModelLen: MAX_MODEL_LEN, seed })));
  const env = await bothIngresses(sims);
  try {
    for (const via of ['gateway', 'EPP'] as const) {
      const router: EndpointPicker = via === 'gateway' ? env.gw.router : env.epp.router;
      // ~9,000 tokens by the sim's estimate: far over 1,024.
      const prompt = `${via}: ${'a long pasted document that does not fit '.repeat(900)}`;
      const body = { model: MODEL, prompt, max_tokens: 4 };
      let status: number;
      let text: string;
      let refusedBy: string;
      if (via === 'EPP') {
        const r = await env.envoy('/v1/completions', body);
        [status, text, refusedBy] = [r.status, r.body.toString(), r.destination!.split(',')[0]]; // Envoy tries the first
      } else {
        const r = await fetch(`${env.gw.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        [status, text, refusedBy] = [r.status, await r.text(), r.headers.get('x-gateway-destination-endpoint-served')!];
      }
      assert.equal(status, 400, `${via}: ${text}`);
      assert.match(text, /maximum context length/, `${via}: the replica's own refusal`);
      await waitFor(() => router.datastore.list().every((e) => e.inFlightRequests === 0));

      // The follow-up shares the refused prompt's first ~9,000 tokens.
      const follow = parseOpenAIRequest('/v1/completions', Buffer.from(JSON.stringify({ ...body, prompt: `${prompt} one more line` })), { requestId: `${via}-follow`, headers: {} }).route;
      const now = performance.now();
      const match = router.matchPrefix(follow, now);
      assert.equal(match?.matched.get(refusedBy) ?? 0, 0, `${via}: ${refusedBy} never prefilled the refused prompt, so it must not be matched there`);

      // And no replica looks busier for it: an unrelated request scores every replica alike.
      const probe = router.pick({ ...follow, id: `${via}-probe`, prefixText: `${via}: an unrelated short question`, promptTokens: 12 }, now);
      router.onComplete(probe.requestId, now);
      const ttft = probe.scores.map((s) => ({ id: s.endpointId, v: s.byPlugin['predicted-ttft-scorer'] }));
      const refusedScore = ttft.find((s) => s.id === refusedBy)?.v;
      assert.ok(refusedScore !== undefined, `${via}: ${refusedBy} among ${JSON.stringify(ttft)}`);
      for (const s of ttft) assert.ok(Math.abs(s.v - refusedScore) < 1e-9, `${via}: ${JSON.stringify(ttft)} (${refusedBy} refused the prompt)`);
    }
  } finally {
    await env.close();
    await Promise.all(sims.map((s) => s.close()));
  }
});
