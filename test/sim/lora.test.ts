// LoRA adapters as vLLM serves them (vllm/entrypoints/openai/models/serving.py: /v1/models cards,
// /v1/load_lora_adapter, /v1/unload_lora_adapter, the 404 for an unknown model; vLLM V1's
// scheduler for --max-loras; vllm:lora_requests_info in vllm/v1/metrics/loggers.py) and as
// llm-d-inference-sim configures them (--lora-modules JSON, --max-loras, --max-cpu-loras).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { MODEL, sim, openai, post, metrics, until, type Json } from './helpers.js';
import { runKvgate } from '../helpers/cli.js';

test('/v1/models lists adapters with root = path and parent = base model, as vLLM', async () => {
  const s = await sim({
    servedModelNames: ['base-a', 'base-b'],
    loraModules: [{ name: 'sql', path: '/adapters/sql' }, { name: 'math', path: '/adapters/math', base_model_name: MODEL }],
  });
  try {
    const cards: Json[] = [];
    for await (const m of openai(s).models.list()) cards.push(m);
    const byId = new Map(cards.map((c) => [c.id, c]));
    assert.deepEqual([...byId.keys()], ['base-a', 'base-b', 'sql', 'math']);
    assert.equal(byId.get('sql').root, '/adapters/sql');
    assert.equal(byId.get('sql').parent, 'base-a', 'no base_model_name: the first served name');
    assert.equal(byId.get('math').parent, MODEL);
    assert.equal(byId.get('sql').max_model_len, null);
    assert.equal(byId.get('base-a').parent, null);
  } finally {
    await s.close();
  }
});

test('an adapter is served under its own name; an unknown one is vLLM\'s 404', async () => {
  const s = await sim({ loraModules: [{ name: 'sql', path: '/a/sql' }] });
  try {
    const c = openai(s);
    const r = await c.completions.create({ model: 'sql', prompt: 'select', max_tokens: 2 });
    assert.equal(r.model, 'sql');
    const err = await c.completions.create({ model: 'nope', prompt: 'x', max_tokens: 1 }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof OpenAI.NotFoundError);
    assert.match((err as Error).message, /The model `nope` does not exist\./);
  } finally {
    await s.close();
  }
});

test('load and unload adapters at run time with vLLM\'s answers and errors', async () => {
  const s = await sim();
  try {
    const load = await post(s, '/v1/load_lora_adapter', { lora_name: 'new', lora_path: '/a/new' });
    assert.equal(load.status, 200);
    assert.equal(load.text, "Success: LoRA adapter 'new' added successfully.");
    assert.equal((await post(s, '/v1/completions', { model: 'new', prompt: 'hi', max_tokens: 1 })).status, 200);
    const again = await post(s, '/v1/load_lora_adapter', { lora_name: 'new', lora_path: '/a/new' });
    assert.equal(again.status, 400);
    assert.match(again.json.error.message, /The lora adapter 'new' has already been loaded/);
    assert.equal((await post(s, '/v1/load_lora_adapter', { lora_name: 'new', lora_path: '/a/v2', load_inplace: true })).status, 200);
    const missing = await post(s, '/v1/load_lora_adapter', { lora_name: 'x' });
    assert.equal(missing.status, 400);
    assert.match(missing.json.error.message, /Both 'lora_name' and 'lora_path' must be provided\./);
    const unload = await post(s, '/v1/unload_lora_adapter', { lora_name: 'new' });
    assert.equal(unload.text, "Success: LoRA adapter 'new' removed successfully.");
    const gone = await post(s, '/v1/unload_lora_adapter', { lora_name: 'new' });
    assert.equal(gone.status, 404);
    assert.match(gone.json.error.message, /The lora adapter 'new' cannot be found\./);
    assert.equal((await post(s, '/v1/completions', { model: 'new', prompt: 'hi', max_tokens: 1 })).status, 404, 'unloaded: the model no longer exists');
  } finally {
    await s.close();
  }
});

// vLLM V1 scheduler + LoRARequestStates: with max_loras 1, one adapter runs and the other waits;
// vllm:lora_requests_info's newest series names them (what GIE's LoRA-affinity scorer reads).
test('--max-loras holds back a second adapter, and lora_requests_info shows running and waiting adapters', async () => {
  const s = await sim({ maxLoras: 1, interTokenLatency: 20, loraModules: [{ name: 'a', path: '/a' }, { name: 'b', path: '/b' }] });
  try {
    const go = (model: string) => post(s, '/v1/completions', { model, prompt: `${model} request`, max_tokens: 60 });
    const running = [go('a'), go('a')];
    await until(() => s.engine.loraStats().running.get('a') === 2);
    const waiting = go('b');
    await until(() => s.engine.loraStats().waiting.get('b') === 1);
    const base = post(s, '/v1/completions', { model: MODEL, prompt: 'base model', max_tokens: 2 });
    assert.equal((await base).status, 200, 'the base model is not held back by a waiting adapter');
    const { samples } = await metrics(s);
    const info = samples.filter((x) => x.name === 'vllm:lora_requests_info').sort((x, y) => y.value - x.value)[0];
    assert.equal(info.labels.max_lora, '1');
    assert.equal(info.labels.running_lora_adapters, 'a');
    assert.equal(info.labels.waiting_lora_adapters, 'b');
    assert.ok(Math.abs(info.value - Date.now() / 1000) < 60, 'value is a timestamp (seconds)');
    assert.ok(s.engine.stats().waiting >= 1);
    const results = await Promise.all([...running, waiting]);
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(s.engine.loraStats().running.size + s.engine.loraStats().waiting.size, 0);
  } finally {
    await s.close();
  }
});

test('--max-cpu-loras below --max-loras, and an adapter for an unknown base model, are refused at start', async () => {
  await assert.rejects(sim({ maxLoras: 2, maxCpuLoras: 1 }), /max CPU LoRAs cannot be less than max LoRAs/);
  await assert.rejects(sim({ loraModules: [{ name: 'x', path: '/x', base_model_name: 'other/model' }] }), /unknown base model 'other\/model' for LoRA 'x'/);
});

test('an adapter named twice in --lora-modules stops the server at start, as vLLM (it used to keep the last silently)', async () => {
  await assert.rejects(sim({ loraModules: [{ name: 'a', path: '/x' }, { name: 'a', path: '/y' }] }), /adapter 'a' is given twice/);
  const r = await runKvgate(['sim', '--port', '0', '--lora-modules', 'a=/x', '{"name":"a","path":"/y"}']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--lora-modules: adapter 'a' is given twice/);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
});
