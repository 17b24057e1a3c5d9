// The terms of the predicted-TTFT cost (docs/predicted-ttft.md), each against the scorer itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { predictedTtftScorer } from '../../src/router/plugins/scorers/predicted-ttft-scorer.js';
import type { CycleContext, Scorer } from '../../src/router/plugins/types.js';
import type { EndpointState } from '../../src/router/api.js';
import { req, seeded } from './helpers.js';
import { scoredEndpoint, type ScoredEndpointSpec } from '../helpers/scored-endpoint.js';

const NOW = 100_000;
const make = (params: Record<string, unknown> = {}) => predictedTtftScorer.create(predictedTtftScorer.parameters.parse(params), { name: 'p' }) as Scorer;

const ep = (id: string, o: Omit<ScoredEndpointSpec, 'atMs'> = {}): EndpointState => scoredEndpoint(id, { ...o, atMs: NOW });

function ctx(eps: EndpointState[], promptTokens: number, matched: Record<string, number> = {}, nowMs = NOW): CycleContext {
  return {
    request: req({ promptTokens }),
    nowMs,
    random: seeded(1),
    staleAfterMs: 2000,
    allEndpoints: eps,
    prefix: { totalBlocks: Math.ceil(promptTokens / 16), blockTokens: 16, matched: new Map(Object.entries(matched)) },
  };
}

/** Score of each endpoint → which one a max-score picker takes. */
const best = (s: Scorer, c: CycleContext, eps: EndpointState[]) => eps[s.score(c, eps).reduce((bi, v, i, a) => (v > a[bi] ? i : bi), 0)].info.id;

test('duplication: recomputing a prefix another endpoint caches costs duplicationWeight × its recompute on a busy endpoint', () => {
  // The holder has 4,000 tokens queued; the other has 1,000 (busy: one mean request or more).
  const eps = [ep('holder', { queue: 8 }), ep('other', { queue: 2 })];
  const c = ctx(eps, 3200, { holder: 190 }); // 3,040 tokens cached on the holder
  // Plain predicted TTFT moves: 4,096 + 160 tokens on the holder vs 1,024 + 3,200 elsewhere.
  assert.equal(best(make({ duplicationWeight: 0, externalityWeight: 0 }), c, eps), 'other');
  // Copying 3,040 cached tokens onto a busy endpoint is charged 4 × their recompute: stay.
  assert.equal(best(make({ externalityWeight: 0 }), c, eps), 'holder');
});

test('duplication is free on an idle endpoint: a hot prefix spreads instead of queueing on its holder', () => {
  const eps = [ep('holder', { queue: 8 }), ep('idle')];
  const c = ctx(eps, 3200, { holder: 190 });
  assert.equal(best(make(), c, eps), 'idle');
});

test('externality: a big prefill costs more on an endpoint that recently got much prefill work (ρ/(1−ρ))', () => {
  const s = make({ duplicationWeight: 0 });
  const a = ep('a');
  const b = ep('b');
  // 40 requests of 4,000 uncached tokens to a in the last second: ~16 tokens/ms of demand, ρ ≈ 1.
  for (let i = 0; i < 40; i++) s.onPicked!(ctx([a, b], 4000, {}, NOW - 1000 + i * 25), a);
  // a and b look alike in metrics and bookkeeping; only the recent demand differs.
  assert.equal(best(s, ctx([a, b], 4000), [a, b]), 'b');
  const scores = s.score(ctx([a, b], 4000), [a, b]);
  assert.ok(scores[0] < 0.5 * scores[1], `a ${scores[0]} b ${scores[1]}`);
  // Without the term the two are equal.
  const plain = make({ duplicationWeight: 0, externalityWeight: 0 });
  for (let i = 0; i < 40; i++) plain.onPicked!(ctx([a, b], 4000, {}, NOW - 1000 + i * 25), a);
  const eq = plain.score(ctx([a, b], 4000), [a, b]);
  assert.equal(eq[0], eq[1]);
});

test('the prefill rate is learned from tokens ahead including the request itself, counted once', () => {
  const plugin = make({ duplicationWeight: 0, externalityWeight: 0 });
  const learner = ep('learner');
  const c0 = ctx([learner], 10_000, {}, NOW);
  // The router counts the request in dispatchedTokensSinceScrape before the scorer hears of the pick.
  learner.dispatchedTokensSinceScrape = 10_000;
  plugin.onPicked!(c0, learner);
  // 10,000 tokens to the first token in 100 ms: 100 tokens/ms observed; the rate moves 20 % of
  // the way there from 15.928 tokens/ms.
  plugin.onFirstToken!(c0.request.id, 'learner', NOW + 100);
  const rate = 15.928 + 0.2 * (100 - 15.928);
  // Read the rate back: a 1,000-token request costs 1,000/rate on an idle endpoint and
  // 11,000/rate where 10,000 tokens are already dispatched; scores are (best + 1)/(own + 1).
  const idle = ep('idle');
  const loaded = ep('loaded', { dispatched: 10_000 });
  const [si, sl] = plugin.score(ctx([idle, loaded], 1000), [idle, loaded]);
  assert.equal(si, 1);
  assert.ok(Math.abs(sl - (1000 / rate + 1) / (11_000 / rate + 1)) < 1e-9, `score ${sl}`);
});

test('a prefill this router sent still counts after a scrape has seen it running, less what the engine has done since, until its first token', () => {
  // The scrape reset the dispatched-since-scrape count and vLLM reports the request as running,
  // not waiting: only the router's own record still shows the 3,000 tokens being prefilled.
  const s = make({ duplicationWeight: 0, externalityWeight: 0 });
  const prefilling = ep('prefilling', { running: 1 });
  const idle = ep('idle');
  // The router counts the request (in flight, dispatched since the scrape) before the scorer hears of the pick.
  prefilling.inFlightRequests = 1;
  prefilling.inFlightTokens = 3000;
  prefilling.dispatchedTokensSinceScrape = 3000;
  s.onPicked!(ctx([prefilling, idle], 3000, {}, NOW), prefilling);
  prefilling.dispatchedTokensSinceScrape = 0; // the next scrape saw it running
  const c = ctx([prefilling, idle], 3100);
  assert.equal(best(s, c, [prefilling, idle]), 'idle');
  const rate = 15.928;
  const waitAt = (nowMs: number) => s.predictTtftMs!(ctx([prefilling, idle], 3100, {}, nowMs), prefilling)! - 0.5; // less the decode share
  assert.ok(Math.abs(waitAt(NOW) - 3000 / rate) < 1e-6, `all 3,000 tokens ahead when sent: ${waitAt(NOW)} ms`);
  // 100 ms later the engine has prefilled ~1,593 of them: only the rest is ahead of a new request.
  assert.ok(Math.abs(waitAt(NOW + 100) - (3000 / rate - 100)) < 1e-6, `what is left after 100 ms: ${waitAt(NOW + 100)} ms`);
  assert.equal(waitAt(NOW + 1000), 0, 'a backlog is never negative');
  // Once its first token is back the endpoint's prefill work is gone (the datastore releases the tokens).
  prefilling.inFlightTokens = 0;
  assert.ok(s.predictTtftMs!(c, prefilling)! < 1, 'no prefill ahead after the first token');
});

test('prefills a prefix holder has been working through do not price it like a recompute of the whole prompt on an idle replica', () => {
  // llm-d's shape at a stage start: the holder of a 7,184-token prefix has six 1,200-token
  // prefills in flight, sent 200 ms ago and seen running by the last scrape; another replica is
  // idle. In-flight tokens alone put 7,200 tokens ahead on the holder — as much as recomputing the
  // whole prompt on the idle replica, where a copy is free — and the prefix was copied.
  const s = make({ externalityWeight: 0 });
  const holder = ep('holder', { running: 6 });
  const idle = ep('idle', { running: 6 });
  for (let i = 0; i < 6; i++) {
    holder.inFlightRequests++;
    holder.inFlightTokens += 1200;
    holder.dispatchedTokensSinceScrape += 1200;
    s.onPicked!(ctx([holder, idle], 1200, {}, NOW - 200), holder);
  }
  holder.dispatchedTokensSinceScrape = 0;
  const warm = (nowMs: number) => ctx([holder, idle], 7200, { holder: 449 }, nowMs); // 7,184 tokens cached on the holder
  // Right after they were sent all 7,200 tokens are still ahead: recomputing elsewhere is as fast.
  const sent = s.score(warm(NOW - 200), [holder, idle]);
  assert.ok(sent[0] <= sent[1], `holder ${sent[0]} idle ${sent[1]}`);
  // 200 ms later about 3,200 of them are done: the holder is clearly cheaper and keeps the request.
  assert.equal(best(s, warm(NOW), [holder, idle]), 'holder');
  const [h, o] = s.score(warm(NOW), [holder, idle]);
  assert.ok(h === 1 && o < 0.6, `holder ${h} idle ${o}`);
});

test('a busy endpoint costs half a decode step more than an idle one, the step learned from time per output token', () => {
  const s = make({ duplicationWeight: 0, externalityWeight: 0, decodeMsPerRunningRequest: 0 });
  const busy = ep('busy');
  busy.inFlightRequests = 1;
  const idle = ep('idle');
  const c = ctx([busy, idle], 100);
  // Nothing measured yet: no step wait, the two cost the same.
  assert.equal(s.predictTtftMs!(c, busy), s.predictTtftMs!(c, idle));
  // A request whose 100 tokens came 8 ms apart after its first: an 8 ms decode step.
  const c0 = ctx([idle], 100, {}, NOW);
  s.onPicked!(c0, idle);
  s.onFirstToken!(c0.request.id, 'idle', NOW + 20);
  s.onComplete!(c0.request.id, NOW + 20 + 99 * 8, { promptTokens: 100, completionTokens: 100 });
  const extra = s.predictTtftMs!(c, busy)! - s.predictTtftMs!(c, idle)!;
  assert.ok(Math.abs(extra - 4) < 1e-9, `busy costs ${extra} ms more`);
  assert.equal(best(s, c, [busy, idle]), 'idle');
  // A completion without usage (or a single token) teaches nothing.
  const c1 = ctx([idle], 100, {}, NOW);
  s.onPicked!(c1, idle);
  s.onFirstToken!(c1.request.id, 'idle', NOW + 20);
  s.onComplete!(c1.request.id, NOW + 10_000);
  assert.ok(Math.abs(s.predictTtftMs!(c, busy)! - s.predictTtftMs!(c, idle)! - 4) < 1e-9);
});
