// A simulated engine whose KV cache cannot hold one max-model-len request does not start, as
// vLLM does not; when max-model-len is the profile's (nobody gave it), it is capped to the cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer } from '../../src/sim/server.js';
import { servedMaxModelLen } from '../../src/sim/kv-capacity.js';
import { loadProfile } from '../../src/engine/profiles.js';
import { runKvgate } from '../helpers/cli.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

async function servedLen(url: string): Promise<number> {
  const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { max_model_len: number }[] };
  return models.data[0].max_model_len;
}

test('kvgate sim --max-model-len over --kv-cache-size × --block-size: one line naming the flags, exit 1, nothing served', async () => {
  // 48 blocks of 16 tokens hold 768 tokens; 769 does not fit.
  const r = await runKvgate(['sim', '--port', '0', '--profile', 'instant', '--kv-cache-size', '48', '--max-model-len', '769'], { timeoutMs: 30_000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^kvgate: --max-model-len 769 is larger than the 768 tokens the KV cache can store \(--kv-cache-size 48 blocks × the profile's 16 tokens per block \(--block-size\)\), .*vLLM refuses to start the same way: give --max-model-len 768 or less, or --kv-cache-size 49 or more$/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.equal(r.stdout, '', 'never listened');
});

test('a --max-model-len the cache holds exactly is served as given', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', kvCacheSize: 24, blockSize: 32, maxModelLen: 768 });
  try {
    assert.equal(await servedLen(sim.url), 768);
  } finally {
    await sim.close();
  }
});

test('--kv-cache-size alone caps the profile\'s max-model-len to the cache: /v1/models says so and a longer prompt gets vLLM\'s 400', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', kvCacheSize: 48 });
  try {
    assert.equal(await servedLen(sim.url), 768, 'the instant profile\'s 131,072 capped to 48 × 16');
    const r = await fetch(`${sim.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'word '.repeat(1000), max_tokens: 1 }),
    });
    const body = (await r.json()) as { error: { message: string; param: string | null } };
    assert.equal(r.status, 400);
    assert.match(body.error.message, /maximum context length is 768 tokens/);
  } finally {
    await sim.close();
  }
});

test('servedMaxModelLen: the built-in profiles fit their own caches; the message names the profile\'s values as such', () => {
  for (const name of ['instant', 'qwen2.5-3b-tpu-v6e', 'qwen3-32b-h100-tp2', 'llama3-8b-h100']) {
    const p = loadProfile(name);
    assert.equal(servedMaxModelLen({}, p), p.engine.maxModelLen, name);
    assert.equal(servedMaxModelLen({ maxModelLen: p.engine.maxModelLen }, p), p.engine.maxModelLen, name);
  }
  const llama = loadProfile('llama3-8b-h100'); // 28,125 blocks of 16 = 450,000 tokens
  assert.throws(() => servedMaxModelLen({ maxModelLen: 450_001 }, llama), /--max-model-len 450001 is larger than the 450000 tokens .*\(the profile's 28125 blocks \(--kv-cache-size\) × the profile's 16 tokens per block \(--block-size\)\)/);
  assert.throws(() => servedMaxModelLen({ maxModelLen: 8192, kvCacheSize: 100, blockSize: 64 }, llama), /\(--kv-cache-size 100 blocks × --block-size 64\).*give --max-model-len 6400 or less, or --kv-cache-size 128 or more/);
  assert.equal(servedMaxModelLen({ blockSize: 8, kvCacheSize: 10 }, llama), 80, 'the profile\'s 8,192 capped');
});
