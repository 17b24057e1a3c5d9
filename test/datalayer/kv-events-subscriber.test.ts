import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { spawn } from 'node:child_process';
import * as zmq from 'zeromq';
import { encode } from '@msgpack/msgpack';
import { pino } from 'pino';
import { startSimServer } from '../../src/sim/server.js';
import { KvEventSubscriber, exactIndexSink, type KvEventSubscriberOptions } from '../../src/datalayer/kv-events/index.js';
import { ExactPrefixIndex } from '../../src/router/prefix/exact-prefix-index.js';
import { EstimateTokenizer } from '../../src/shared/tokenizer/estimate.js';
import { freePort } from '../helpers/ports.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const BS = 16;
const tok = new EstimateTokenizer();

async function until(cond: () => boolean, what: string, ms = 15_000, detail?: () => unknown): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? ` — ${JSON.stringify(detail(), (_k, v) => (typeof v === 'bigint' ? String(v) : v))}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function complete(url: string, prompt: string): Promise<number> {
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt, max_tokens: 1 }) });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } };
  return body.usage.prompt_tokens_details.cached_tokens;
}

/** A prompt of `blocks` full blocks of estimate tokens (4 characters each), distinct for each tag. */
function prompt(tag: string, blocks: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < tag.length; i++) h = Math.imul(h ^ tag.charCodeAt(i), 0x01000193) >>> 0;
  return Array.from({ length: blocks * BS }, (_, i) => ((h + i * 7919) % 36 ** 4).toString(36).padStart(4, '0')).join('');
}

/** What the index predicts vLLM will report as cached_tokens for this prompt (§7.6: whole blocks, at most n−1 tokens). */
function predictedCached(index: ExactPrefixIndex, ep: string, text: string): number {
  const ids = tok.encode(text);
  const blocks = index.match(MODEL, null, ids).get(ep) ?? 0;
  return Math.min(blocks, Math.floor((ids.length - 1) / BS)) * BS;
}

interface Harness {
  index: ExactPrefixIndex;
  sub: KvEventSubscriber;
}
function harness(opts: Partial<KvEventSubscriberOptions> = {}): Harness {
  const index = new ExactPrefixIndex();
  return { index, sub: new KvEventSubscriber({ sink: exactIndexSink(index), replayTimeoutMs: 3000, ...opts }) };
}

async function simWithEvents(format: 'array' | 'map', kvCacheSize?: number, ports?: { pub: number; replay: number }) {
  const pub = ports?.pub ?? (await freePort());
  const replay = ports?.replay ?? (await freePort());
  const sim = await startSimServer({
    port: 0,
    profile: 'instant',
    kvCacheSize,
    kvEventsEndpoint: `tcp://*:${pub}`,
    kvEventsReplayEndpoint: `tcp://*:${replay}`,
    kvEventsTopic: 'kv@127.0.0.1@' + MODEL,
    kvEventsFormat: format,
  });
  // The sim runs in this process: count the batches its engine publishes, to know when a
  // subscriber has seen them all.
  const published = { batches: 0 };
  sim.engine.onKvEvents(() => published.batches++);
  return { sim, pub, replay, published, id: `127.0.0.1:${sim.port}` };
}

/** Waits until the subscriber applied every batch the engine published. */
async function settled(published: { batches: number }, sub: KvEventSubscriber, id: string): Promise<void> {
  await until(() => sub.status(id)?.batches === published.batches, `all ${published.batches} published batches applied`);
}

for (const format of ['array', 'map'] as const) {
  test(`exact state from a real sim (${format} encoding): stores, evictions under KV pressure, and reset_prefix_cache within one batch`, async () => {
    const { sim, pub, replay, published, id } = await simWithEvents(format, 12);
    const { index, sub } = harness();
    try {
      sub.addEndpoint({ endpointId: id, model: MODEL, endpoint: `tcp://127.0.0.1:${pub}`, replayEndpoint: `tcp://127.0.0.1:${replay}` });
      const a = prompt('a', 4);
      await complete(sim.url, a);
      // A SUB socket may join after that batch was published (ZeroMQ's slow joiner): the next batch
      // reveals the gap and the replay fills it, so keep the engine publishing until then.
      // A few one-block nudges at most, spaced out, so they cannot evict prompt a from the 12-block cache.
      let polls = 0;
      await until(() => {
        if (index.match(MODEL, null, tok.encode(a)).get(id) === 4) return true;
        if (++polls % 50 === 0 && polls <= 150) void complete(sim.url, prompt(`nudge${polls}`, 1)).catch(() => undefined);
        return false;
      }, 'the 4 blocks of prompt a');
      assert.equal(index.blockSize(id), BS, 'block size from the events');
      // The index predicts the engine's own cache hit exactly.
      const predicted = predictedCached(index, id, a);
      assert.equal(predicted, 48);
      assert.equal(await complete(sim.url, a), predicted);
      // A 10-block prompt in a 12-block cache evicts prompt a's chain tail (BlockRemoved).
      const b = prompt('b', 10);
      await complete(sim.url, b);
      await until(() => index.match(MODEL, null, tok.encode(b)).get(id) === 10, 'the 10 blocks of prompt b');
      await settled(published, sub, id);
      const aLeft = index.match(MODEL, null, tok.encode(a)).get(id) ?? 0;
      assert.ok(aLeft < 4, `prompt a still fully indexed (${aLeft} blocks) after eviction`);
      assert.equal(await complete(sim.url, b), predictedCached(index, id, b), 'prompt b: index agrees with the engine');
      await settled(published, sub, id);
      assert.equal(await complete(sim.url, a), predictedCached(index, id, a), 'prompt a: index agrees with the engine after evictions');
      await settled(published, sub, id);
      // reset_prefix_cache: AllBlocksCleared in the very next batch empties the endpoint.
      await until(() => sub.status(id)?.state === 'live', 'a live stream');
      const before = sub.status(id)!.batches;
      await until(() => index.blocks(id) > 0, 'blocks held');
      assert.equal((await fetch(`${sim.url}/reset_prefix_cache`, { method: 'POST' })).status, 200);
      await until(() => sub.status(id)!.batches > before, 'the next batch');
      assert.equal(sub.status(id)!.batches, before + 1);
      assert.equal(index.match(MODEL, null, tok.encode(b)).size, 0, 'no match once the reset batch is applied');
      assert.equal(index.blocks(id), 0);
      assert.equal(sub.stats().decodeErrors.total, 0);
    } finally {
      await sub.close();
      await sim.close();
    }
  });
}

test('a subscriber that connects late asks the replay socket for everything retained, and its index matches the engine', async () => {
  const { sim, pub, replay, published, id } = await simWithEvents('array');
  const { index, sub } = harness();
  try {
    const early = [prompt('p', 3), prompt('q', 5), prompt('r', 2)];
    for (const p of early) await complete(sim.url, p);
    sub.addEndpoint({ endpointId: id, model: MODEL, endpoint: `tcp://127.0.0.1:${pub}`, replayEndpoint: `tcp://127.0.0.1:${replay}` });
    // Live traffic until the subscription is joined: its first live batch has seq > 0, a gap from 0.
    let i = 0;
    await until(() => {
      if (sub.stats().batches === 0 && i < 500) void complete(sim.url, prompt(`w${i++}`, 1)).catch(() => undefined);
      return index.match(MODEL, null, tok.encode(early[1])).get(id) === 5;
    }, 'the early prompts, replayed');
    assert.ok(sub.stats().replaysCompleted >= 1);
    assert.equal(sub.stats().truncatedHistories, 0, 'the engine still held seq 0');
    for (const p of early) {
      await settled(published, sub, id);
      assert.equal(await complete(sim.url, p), predictedCached(index, id, p));
    }
  } finally {
    await sub.close();
    await sim.close();
  }
});

test('a dropped live message is a gap the replay fills: the index ends exactly as without the loss', async () => {
  const { sim, pub, replay, id } = await simWithEvents('map');
  let dropped = false;
  let warmedUp = false;
  const lossy = harness({ dropLive: (_ep, seq) => (seq >= 2n && !dropped && lossy.sub.stats().batches > 0 && warmedUp ? (dropped = true) : false) });
  const clean = harness();
  try {
    for (const h of [lossy, clean]) h.sub.addEndpoint({ endpointId: id, model: MODEL, endpoint: `tcp://127.0.0.1:${pub}`, replayEndpoint: `tcp://127.0.0.1:${replay}` });
    // Both SUB sockets connected (ZeroMQ's slow joiner would otherwise make the first batches a
    // late-join replay, not the drop this test is about): publish until both have seen one.
    let polls = 0;
    await until(() => {
      if ([lossy, clean].every((h) => h.sub.stats().batches > 0)) return true;
      if (++polls % 20 === 0) void complete(sim.url, prompt(`warm${polls}`, 1)).catch(() => undefined);
      return false;
    }, 'both subscribers connected');
    warmedUp = true;
    const prompts = Array.from({ length: 6 }, (_, i) => prompt(`d${i}`, 2 + i));
    for (const p of prompts) await complete(sim.url, p);
    await until(() => dropped && lossy.sub.stats().replaysCompleted >= 1, 'the drop and its replay');
    const last = prompts[prompts.length - 1];
    await until(() => [lossy, clean].every((h) => h.index.match(MODEL, null, tok.encode(last)).get(id) === 7), 'both indexes caught up');
    assert.equal(lossy.sub.stats().dropped.testHook, 1);
    assert.ok(lossy.sub.stats().gaps >= 1);
    assert.equal(lossy.sub.status(id)?.state, 'live');
    for (const p of prompts) assert.deepEqual(lossy.index.match(MODEL, null, tok.encode(p)), clean.index.match(MODEL, null, tok.encode(p)), 'same state as the loss-free subscriber');
    assert.equal(lossy.index.blocks(id), clean.index.blocks(id));
  } finally {
    await lossy.sub.close();
    await clean.sub.close();
    await sim.close();
  }
});

test('a replica restart (its sequence starts again) resets its entries', async () => {
  const first = await simWithEvents('array');
  const { index, sub } = harness();
  const id = 'replica-0';
  let second: Awaited<ReturnType<typeof simWithEvents>> | undefined;
  try {
    sub.addEndpoint({ endpointId: id, model: MODEL, endpoint: `tcp://127.0.0.1:${first.pub}`, replayEndpoint: `tcp://127.0.0.1:${first.replay}` });
    // The SUB socket connected first (ZeroMQ's slow joiner drops what is published before): publish until a batch arrived.
    let polls = 0;
    await until(() => {
      if (sub.stats().batches > 0) return true;
      if (++polls % 20 === 0) void complete(first.sim.url, prompt(`warm${polls}`, 1)).catch(() => undefined);
      return false;
    }, 'the subscriber connected');
    const old = prompt('o', 4);
    await complete(first.sim.url, old);
    await complete(first.sim.url, prompt('o2', 2));
    await until(() => index.match(MODEL, null, tok.encode(old)).get(id) === 4, 'the old prompt indexed');
    await first.sim.close();
    // The same ports again: ZeroMQ releases a closed socket's port asynchronously, so retry the bind a while.
    for (let attempt = 0; !second; attempt++) {
      try {
        second = await simWithEvents('array', undefined, { pub: first.pub, replay: first.replay });
      } catch (err) {
        if (attempt >= 100 || !/already in use/.test((err as Error).message)) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const fresh = prompt('n', 3);
    let i = 0;
    await until(() => {
      if (i < 500) void complete(second!.sim.url, i++ === 0 ? fresh : prompt(`nw${i}`, 1)).catch(() => undefined);
      return index.match(MODEL, null, tok.encode(fresh)).get(id) === 3;
    }, "the restarted replica's blocks", 15_000, () => ({ status: sub.status(id), stats: sub.stats(), blocks: index.blocks(id), sent: i }));
    assert.ok(sub.stats().restarts >= 1, 'restart detected');
    assert.equal(index.match(MODEL, null, tok.encode(old)).get(id), undefined, 'entries of the old process are gone');
  } finally {
    await sub.close();
    await second?.sim.close();
    await first.sim.close();
  }
});

// ---- a hand-driven publisher for the failure modes a sim does not produce ----

async function rawPublisher(): Promise<{ pub: zmq.Publisher; url: string; send: (seq: number | bigint, payload: Uint8Array | Buffer | string, topic?: string) => Promise<void> }> {
  const pub = new zmq.Publisher({ sendHighWaterMark: 1_000_000 });
  await pub.bind('tcp://127.0.0.1:*');
  const url = pub.lastEndpoint!;
  return {
    pub,
    url,
    send: async (seq, payload, topic = 'kv@t@m') => {
      const s = Buffer.alloc(8);
      s.writeBigUInt64BE(BigInt(seq));
      await pub.send([topic, s, payload]);
    },
  };
}
const batchOf = (hashes: number[], tokens0: number) =>
  encode([1, [['BlockStored', hashes, null, Array.from({ length: hashes.length * 4 }, (_, i) => tokens0 + i), 4, null, 'GPU', null]], 0]);

/** Publishes `first` until the subscriber has it (PUB/SUB join takes a moment). */
async function joined(send: () => Promise<void>, sub: KvEventSubscriber): Promise<void> {
  await until(() => {
    void send();
    return sub.stats().batches > 0;
  }, 'the subscription to join');
}

test('a replay socket that never answers times out, the endpoint goes stale, and live events keep flowing', async () => {
  const { pub, url, send } = await rawPublisher();
  const silent = new zmq.Router();
  await silent.bind('tcp://127.0.0.1:*');
  const requests: Buffer[][] = [];
  void (async () => {
    for await (const f of silent) requests.push(f); // reads requests, never replies
  })().catch(() => undefined);
  const { index, sub } = harness({ replayTimeoutMs: 200 });
  try {
    sub.addEndpoint({ endpointId: 'e', model: 'm', endpoint: url, replayEndpoint: silent.lastEndpoint! });
    await joined(() => send(0, batchOf([1], 0)), sub);
    await send(2, batchOf([3], 100)); // seq 1 lost
    await send(3, batchOf([4], 200));
    await until(() => sub.stats().replaysFailed === 1, 'the replay to time out');
    await until(() => index.blocks('e') === 3, 'the held and later batches applied');
    assert.equal(requests.length, 1);
    assert.equal(requests[0].length, 3, 'ROUTER sees [identity, "", start]');
    assert.equal(requests[0][1].length, 0);
    assert.equal(requests[0][2].readBigUInt64BE(), 1n, 'replay asked from the first missing seq');
    assert.equal(sub.status('e')?.state, 'stale');
    assert.equal(sub.stats().unrecoverableGaps, 1);
    await send(4, encode([1, [['AllBlocksCleared']], 0]));
    await until(() => sub.status('e')?.state === 'live', 'AllBlocksCleared to make the state known again');
    assert.equal(index.blocks('e'), 0);
  } finally {
    await sub.close();
    pub.close();
    silent.close();
  }
});

/**
 * A publisher in its own process (so its sending never shares this event loop): probes with
 * seq 0, 1, 2… until told "go", then sends `n` batches as fast as it can, a malformed frame
 * after every 20th, and prints "done".
 */
const FLOODER = `
import * as zmq from 'zeromq';
import { encode } from '@msgpack/msgpack';
const [port, n] = process.argv.slice(-2).map(Number);
const pub = new zmq.Publisher({ sendHighWaterMark: 200 });
await pub.bind('tcp://127.0.0.1:' + port);
let seq = 0;
const frame = (s) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(s)); return b; };
const batch = (i) => encode([1, [['BlockStored', [i + 1], null, [i * 4, i * 4 + 1, i * 4 + 2, i * 4 + 3], 4, null, 'GPU', null]], 0]);
let go = false;
process.stdin.on('data', () => { go = true; });
while (!go) { await pub.send(['kv@t@m', frame(seq), batch(seq)]); seq++; await new Promise((r) => setTimeout(r, 20)); }
for (let i = 0; i < n; i++, seq++) {
  await pub.send(['kv@t@m', frame(seq), batch(seq)]);
  if (i % 20 === 0) await pub.send(['kv@t@m', frame(seq), Buffer.from([0xc1, 0xc1])]);
}
console.log('done ' + seq);
process.stdin.on('end', () => { pub.close(); process.exit(0); });
`;

test('a flooding publisher and malformed frames never starve the event loop; problems are counted and logged once per kind', async () => {
  const port = await freePort();
  const N = 30_000;
  const child = spawn(process.execPath, ['--input-type=module', '-e', FLOODER, String(port), String(N)], { cwd: process.cwd(), stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const lines: { kind?: string }[] = [];
  const logger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    }),
  );
  const { index, sub } = harness({ logger, receiveHighWaterMark: 200 });
  let ticks = 0;
  let ticking = true;
  const tick = () => {
    ticks++;
    if (ticking) setImmediate(tick);
  };
  try {
    sub.addEndpoint({ endpointId: 'e', model: 'm', endpoint: `tcp://127.0.0.1:${port}` });
    await until(() => sub.stats().batches > 0, 'the subscription to join');
    setImmediate(tick);
    child.stdin.write('go\n');
    await until(() => out.includes('done'), 'the flood to be sent', 60_000);
    // Handled when the last sequence number arrived, or nothing more came for a second (tail drops).
    const sent = Number(out.trim().split(' ')[1]);
    let last = -1;
    let quietSince = Date.now();
    await until(() => {
      const m = sub.stats().messages;
      if (m !== last) [last, quietSince] = [m, Date.now()];
      return sub.status('e')?.nextSeq === BigInt(sent) || Date.now() - quietSince > 1000;
    }, 'the flood to be handled', 60_000);
    ticking = false;
    const s = sub.stats();
    assert.ok(s.messages > 1000, `${s.messages} messages`);
    assert.ok(ticks > 20, `the event loop turned only ${ticks} times while ${s.messages} messages were handled`);
    assert.equal(s.batches + s.decodeErrors.total, s.messages, 'every message applied or counted');
    assert.equal(index.blocks('e'), s.batches, 'one block per applied batch');
    assert.ok(s.decodeErrors.counts.msgpack > 0);
    assert.equal(lines.filter((l) => l.kind === 'decode_msgpack').length, 1, 'malformed frames logged once');
    // Whatever the publisher dropped past the high-water marks is a gap (no replay socket): counted, endpoint stale.
    // What the publisher dropped past its small high-water mark is a gap (no replay socket here):
    // counted, logged once, and the endpoint is stale.
    assert.equal(s.gaps, s.unrecoverableGaps);
    if (s.gaps > 0) assert.equal(sub.status('e')?.state, 'stale');
    assert.ok(lines.filter((l) => l.kind === 'unrecoverable_gap').length <= 1);
  } finally {
    ticking = false;
    child.stdin.end();
    await sub.close();
    await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  }
});

test('the llm-d layout: engines publish to a bound SUB socket, each stream identified by its kv@<address>@<model> topic', async () => {
  const index = new ExactPrefixIndex();
  const sub = new KvEventSubscriber({ sink: exactIndexSink(index) });
  const sims: Awaited<ReturnType<typeof startSimServer>>[] = [];
  try {
    await sub.bind('tcp://127.0.0.1:*');
    const bound = sub.boundAddress('tcp://127.0.0.1:*')!;
    assert.match(bound, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    for (let r = 0; r < 2; r++) {
      const port = await freePort();
      sims.push(
        await startSimServer({ port, profile: 'instant', kvEventsEndpoint: bound, kvEventsTopic: `kv@127.0.0.1:${port}@${MODEL}`, kvEventsFormat: r === 0 ? 'array' : 'map' }),
      );
    }
    const ids = sims.map((s) => `127.0.0.1:${s.port}`);
    // Each engine connects to us; traffic until both streams are flowing.
    let i = 0;
    await until(() => {
      if (i < 1000) for (const s of sims) void complete(s.url, prompt(`j${i++}`, 1)).catch(() => undefined);
      return ids.every((id) => index.blocks(id) > 0);
    }, 'both engines to be heard');
    const only0 = prompt('x', 3);
    const only1 = prompt('y', 5);
    await complete(sims[0].url, only0);
    await complete(sims[1].url, only1);
    await until(() => index.match(MODEL, null, tok.encode(only0)).get(ids[0]) === 3 && index.match(MODEL, null, tok.encode(only1)).get(ids[1]) === 5, 'both prompts indexed');
    assert.equal(index.match(MODEL, null, tok.encode(only0)).has(ids[1]), false);
    assert.equal(index.match(MODEL, null, tok.encode(only1)).has(ids[0]), false);
    assert.equal(sub.status(ids[0])?.state, 'live');
  } finally {
    await sub.close();
    for (const s of sims) await s.close();
  }
});
