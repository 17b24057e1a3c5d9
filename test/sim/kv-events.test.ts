import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zmq from 'zeromq';
import { decode } from '@msgpack/msgpack';
import { startSimServer } from '../../src/sim/server.js';
import { hashBlocks, EstimateTokenizer } from '../../src/engine/index.js';
import { freePort } from '../helpers/ports.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

interface Received {
  topic: string;
  seq: bigint;
  batch: unknown[];
}

async function collect(sub: zmq.Subscriber, out: Received[]): Promise<void> {
  try {
    for await (const [topic, seq, payload] of sub) {
      out.push({ topic: topic.toString(), seq: seq.readBigUInt64BE(), batch: decode(payload, { useBigInt64: true }) as unknown[] });
    }
  } catch {
    // socket closed
  }
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function complete(url: string, prompt: string, maxTokens = 1): Promise<void> {
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt, max_tokens: maxTokens }) });
  assert.equal(r.status, 200);
  await r.json();
}

for (const format of ['array', 'map'] as const) {
  test(`KV events (${format} encoding): BlockStored matches the engine's blocks, then BlockRemoved under pressure`, async () => {
    const port = await freePort();
    const sim = await startSimServer({
      port: 0,
      profile: 'instant',
      kvCacheSize: 12,
      kvEventsEndpoint: `tcp://*:${port}`,
      kvEventsTopic: 'kv@test',
      kvEventsFormat: format,
    });
    const sub = new zmq.Subscriber();
    sub.connect(`tcp://127.0.0.1:${port}`);
    sub.subscribe();
    const got: Received[] = [];
    const done = collect(sub, got);
    try {
      await new Promise((r) => setTimeout(r, 200)); // PUB/SUB join
      const prompt = 'k'.repeat(16 * 4 * 4); // 64 tokens = 4 blocks
      await complete(sim.url, prompt);
      await until(() => got.length > 0);
      const first = got[0];
      assert.equal(first.topic, 'kv@test');
      assert.equal(first.seq, 0n);
      assert.equal(first.batch.length, 3);
      assert.equal(typeof first.batch[0], 'number');
      assert.equal(first.batch[2], 0);
      const events = got.flatMap((g) => g.batch[1] as unknown[]);
      const norm = (e: unknown) =>
        Array.isArray(e)
          ? { type: e[0], hashes: e[1] as bigint[], parent: e[2], tokens: e[3] as number[], blockSize: e[4], medium: e[6] }
          : { type: (e as Record<string, unknown>).type, hashes: (e as Record<string, bigint[]>).block_hashes, parent: (e as Record<string, unknown>).parent_block_hash, tokens: (e as Record<string, number[]>).token_ids, blockSize: (e as Record<string, unknown>).block_size, medium: (e as Record<string, unknown>).medium };
      const stored = events.map(norm).filter((e) => e.type === 'BlockStored');
      const tokens = new EstimateTokenizer().encode(prompt);
      const expected = hashBlocks(tokens, 16, { seed: MODEL });
      assert.deepEqual(stored.map((e) => e.hashes[0]), expected.slice(0, stored.length));
      assert.equal(stored.length, 4);
      assert.equal(stored[0].parent, null);
      assert.equal(stored[1].parent, expected[0]);
      assert.deepEqual(stored[0].tokens, tokens.slice(0, 16));
      assert.equal(stored[0].blockSize, 16);
      assert.equal(stored[0].medium, 'GPU');
      // A different 10-block prompt in a 12-block cache must reallocate cached blocks.
      await complete(sim.url, 'z'.repeat(16 * 4 * 10));
      await until(() => got.flatMap((g) => g.batch[1] as unknown[]).map(norm).some((e) => e.type === 'BlockRemoved'));
      const removed = got.flatMap((g) => g.batch[1] as unknown[]).map(norm).filter((e) => e.type === 'BlockRemoved').flatMap((e) => e.hashes);
      assert.ok(removed.every((h) => expected.includes(h)), 'only the first prompt\'s blocks were evicted');
      assert.ok(!removed.includes(expected[0]) || removed.length === 4, 'chain tail goes first');
      // vLLM's POST /reset_prefix_cache drops every cached block and says so in one event.
      assert.equal((await fetch(`${sim.url}/reset_prefix_cache`, { method: 'POST' })).status, 200);
      await until(() => got.flatMap((g) => g.batch[1] as unknown[]).map(norm).some((e) => e.type === 'AllBlocksCleared'));
      const again = (await (await fetch(`${sim.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt: 'z'.repeat(16 * 4 * 10), max_tokens: 1 }) })).json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } };
      assert.equal(again.usage.prompt_tokens_details.cached_tokens, 0, 'nothing is cached after the reset');
      const seqs = got.map((g) => g.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => BigInt(i)), 'sequence numbers count up from 0');
    } finally {
      sub.close();
      await done;
      await sim.close();
    }
  });
}

test('hashes of u64 values ≥ 2^63 survive msgpack as unsigned', async () => {
  const { encodeBatch } = await import('../../src/sim/kv-event-publisher.js');
  const big = (1n << 64n) - 2n;
  const bytes = encodeBatch({ ts: 1, events: [{ type: 'BlockRemoved', blockHashes: [big], medium: 'GPU' }] }, 'array');
  const back = decode(bytes, { useBigInt64: true }) as [number, [string, bigint[], string][], number];
  assert.equal(back[1][0][1][0], big);
});

test('the replay socket answers as vLLM: (seq, payload) per buffered batch, then the end marker', async () => {
  const [pubPort, replayPort] = [await freePort(), await freePort()];
  const sim = await startSimServer({
    port: 0,
    profile: 'instant',
    kvEventsEndpoint: `tcp://*:${pubPort}`,
    kvEventsReplayEndpoint: `tcp://*:${replayPort}`,
  });
  const dealer = new zmq.Dealer();
  try {
    for (let i = 0; i < 3; i++) await complete(sim.url, `${i}`.repeat(100));
    await new Promise((r) => setTimeout(r, 100));
    dealer.connect(`tcp://127.0.0.1:${replayPort}`);
    const start = Buffer.alloc(8);
    start.writeBigUInt64BE(1n);
    await dealer.send(['', start]);
    const replies: Buffer[][] = [];
    for (;;) {
      const frames = await dealer.receive();
      replies.push(frames);
      if (frames[1].equals(Buffer.alloc(8, 0xff))) break;
    }
    assert.ok(replies.length >= 3, `${replies.length} replies`);
    const seqs = replies.slice(0, -1).map((f) => f[1].readBigUInt64BE());
    assert.equal(seqs[0], 1n);
    assert.equal(replies[0].length, 3, 'empty delimiter, seq, payload: no topic frame');
    const endFrame = replies[replies.length - 1];
    assert.equal(endFrame[2].length, 0);
  } finally {
    dealer.close();
    await sim.close();
  }
});
