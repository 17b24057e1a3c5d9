// Request fields read as vLLM reads them, the same through the gateway and straight from the sim.
// vLLM's request models are pydantic v2 in lax mode: a bool field takes "yes", "on", 1… as true
// and "no", "off", 0… as false, so `"stream": "yes"` streams and `"include_usage": "yes"` adds
// the usage chunk; its "before" validators test the raw body's truthiness. Before, the sim
// refused `"stream": "yes"` (400) yet silently dropped the usage chunk for `"include_usage": "yes"`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { fleetWithGateway, MODEL, post } from './helpers.js';

let env: Awaited<ReturnType<typeof fleetWithGateway>>;
let targets: [string, string][];
before(async () => {
  env = await fleetWithGateway(1, {}, { profile: 'instant', requireJsonContentType: true }); // strict as `kvgate sim` and vLLM
  targets = [
    ['gateway', env.gateway.url],
    ['sim', env.fleet.replicas[0].url],
  ];
});
after(() => env.close());

/** The SSE events of a streamed answer, as parsed JSON (without the closing [DONE]). */
function events(text: string): { choices: unknown[]; usage?: { completion_tokens: number } | null }[] {
  assert.match(text, /data: \[DONE\]\n\n$/, 'a complete stream');
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: {'))
    .map((e) => JSON.parse(e.slice(6)));
}

const usageChunk = (text: string) => events(text).find((e) => e.choices.length === 0 && e.usage);

test('"stream": "yes" (or 1, "on") streams, as pydantic reads vLLM\'s bool field; the gateway treats it as a stream too', async () => {
  for (const [name, url] of targets) {
    for (const stream of ['yes', 1, 'On']) {
      const r = await post(`${url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 3, stream });
      assert.equal(r.status, 200, `${name} ${JSON.stringify(stream)}: ${r.text}`);
      assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/, name);
      // No stream_options: no usage chunk, also through the gateway (which asks for one and takes it out).
      assert.equal(usageChunk(r.text), undefined, `${name}: the client did not ask for usage`);
    }
    const off = await post(`${url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 3, stream: 'no' });
    assert.equal(off.status, 200, name);
    assert.equal(off.json.object, 'text_completion', `${name}: "no" is a plain JSON answer`);
    const bad = await post(`${url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 3, stream: 'maybe' });
    assert.equal(bad.status, 400, name);
    assert.equal(bad.json.error.param, 'stream');
    assert.match(bad.json.error.message, /stream must be a boolean/);
  }
});

test('stream_options.include_usage "yes" sends the usage chunk and "no" does not, through the openai client; a value pydantic cannot read is a 400', async () => {
  for (const [name, url] of targets) {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const usageOf = async (include_usage: unknown) => {
      // The client's types say boolean; vLLM's server takes what pydantic reads as one.
      const s = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true, stream_options: { include_usage: include_usage as boolean } });
      let usage;
      for await (const c of s) if (c.usage) usage = c.usage;
      return usage;
    };
    assert.equal((await usageOf('yes'))?.completion_tokens, 4, `${name}: "yes" asks for usage`);
    assert.equal((await usageOf(1))?.completion_tokens, 4, name);
    assert.equal(await usageOf('no'), undefined, `${name}: "no" declines it (the gateway's own usage chunk is taken out)`);
    assert.equal(await usageOf(0), undefined, name);
    const bad = await post(`${url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true, stream_options: { include_usage: 'maybe' } });
    assert.equal(bad.status, 400, `${name}: ${bad.text}`);
    assert.match(bad.json.error.message, /stream_options\.include_usage must be a boolean/);
  }
});

test('stream_options without stream is vLLM\'s 400; its check reads the raw body, so a non-empty stream string passes it', async () => {
  for (const [name, url] of targets) {
    for (const stream of [false, 0, undefined]) {
      const r = await post(`${url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2, stream, stream_options: { include_usage: true } });
      assert.equal(r.status, 400, `${name} ${String(stream)}`);
      assert.equal(r.json.error.param, 'stream_options');
      assert.match(r.json.error.message, /^Stream options can only be defined when `stream=True`\./);
    }
    // "false" is truthy to the raw check and false to the field: a plain JSON answer.
    const r = await post(`${url}/v1/completions`, { model: MODEL, prompt: 'hi', max_tokens: 2, stream: 'false', stream_options: { include_usage: true } });
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.equal(r.json.object, 'text_completion');
  }
});

test('/tokenize reads its bool fields as vLLM does too: "no" is false, a word pydantic does not know is a 400', async () => {
  for (const [name, url] of targets) {
    const r = await post(`${url}/tokenize`, { model: MODEL, prompt: 'hello', add_special_tokens: 'no', return_token_strs: 'yes' });
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    assert.ok(Array.isArray(r.json.token_strs), `${name}: return_token_strs "yes" returns them`);
    const bad = await post(`${url}/tokenize`, { model: MODEL, prompt: 'hello', return_token_strs: 'nope' });
    assert.equal(bad.status, 400, name);
    assert.equal(bad.json.error.param, 'return_token_strs');
  }
});

test('request-shape errors the gateway answers itself have the sim\'s status and body (prompt, messages, content type)', async () => {
  const cases: [string, string, unknown][] = [
    ['/v1/completions', 'application/json', { model: MODEL, prompt: 5 }],
    ['/v1/completions', 'application/json', { model: MODEL, prompt: [{ text: 'x' }] }],
    ['/v1/chat/completions', 'application/json', { model: MODEL, messages: 'hi' }],
    ['/v1/chat/completions', 'application/json', { model: MODEL, messages: [null] }],
    ['/v1/chat/completions', 'application/json', { model: MODEL, messages: [{ content: 'no role' }] }],
    ['/v1/completions', 'text/plain', { model: MODEL, prompt: 'x' }],
  ];
  for (const [path, type, body] of cases) {
    const [gw, sim] = await Promise.all(targets.map(([, url]) => post(`${url}${path}`, body, { 'content-type': type })));
    assert.equal(sim.status, 400, sim.text);
    assert.equal(gw.status, sim.status, `${path} ${JSON.stringify(body)}`);
    assert.deepEqual(gw.json, sim.json, `${path} ${type} ${JSON.stringify(body)}`);
  }
});
