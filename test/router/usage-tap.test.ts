import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageTap } from '../../src/router/observability/usage-tap.js';

function tapJson(text: string, splitAt: number[] = []): ReturnType<UsageTap['finish']> {
  const tap = new UsageTap(false);
  const buf = Buffer.from(text);
  let from = 0;
  for (const at of [...splitAt.filter((x) => x > 0 && x < buf.length).sort((a, b) => a - b), buf.length]) {
    tap.push(buf.subarray(from, at));
    from = at;
  }
  return tap.finish();
}

test('JSON responses: usage is found wherever it sits and however the body is split', () => {
  const usage = { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15, prompt_tokens_details: { cached_tokens: 8 } };
  const expected = { promptTokens: 12, completionTokens: 3, cachedTokens: 8 };
  fc.assert(
    fc.property(fc.string(), fc.boolean(), fc.array(fc.nat(400)), (text, usageFirst, splits) => {
      // Completion text may itself contain "usage", braces and quotes: they arrive escaped.
      const choices = [{ index: 0, text: `${text} "usage": {"prompt_tokens": 999} }`, finish_reason: 'length' }];
      const body = usageFirst ? { id: 'x', usage, choices } : { id: 'x', choices, usage };
      assert.deepEqual(tapJson(JSON.stringify(body, null, usageFirst ? 2 : 0), splits), expected);
    }),
    { numRuns: 300 },
  );
});

test('JSON responses: usage found far from the end (past the 4 KiB scanned in JS) and near it alike', () => {
  const usage = { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9, prompt_tokens_details: { cached_tokens: 4 } };
  fc.assert(
    fc.property(fc.nat(9000), fc.nat(3000), (tailLen, textLen) => {
      // A field after usage (vLLM puts prompt_logprobs, kv_transfer_params there) moves it back from the end.
      const body = { id: 'x', choices: [{ index: 0, text: 'u'.repeat(textLen) }], usage, prompt_logprobs: 'p'.repeat(tailLen) };
      assert.deepEqual(tapJson(JSON.stringify(body)), { promptTokens: 7, completionTokens: 2, cachedTokens: 4 });
    }),
    { numRuns: 200 },
  );
  assert.equal(tapJson(JSON.stringify({ id: 'x', text: 'n'.repeat(10_000) })), undefined);
});

test('JSON responses: null or missing usage, a non-JSON body and a truncated body give no usage', () => {
  assert.equal(tapJson('{"id":"x","usage":null}'), undefined);
  assert.equal(tapJson('{"id":"x"}'), undefined);
  assert.equal(tapJson('upstream exploded'), undefined);
  assert.equal(tapJson('{"id":"x","usage":{"prompt_tokens":1'), undefined);
});

test('JSON responses: a body that does not parse is marked invalid_json and gives no usage, even with a usage member inside', () => {
  const judge = (text: string, cap?: number) => {
    const tap = new UsageTap(false, cap);
    tap.push(Buffer.from(text));
    return [tap.finish(), tap.invalid];
  };
  const zeros = '{"usage":{"prompt_tokens":0,"completion_tokens":0}}';
  assert.deepEqual(judge(`${zeros} <html>`), [undefined, 'invalid_json']);
  assert.deepEqual(judge(`<html>${zeros}`), [undefined, 'invalid_json']);
  assert.deepEqual(judge('{"id":"x","usage":{"prompt_tokens":1'), [undefined, 'invalid_json']);
  assert.deepEqual(judge(''), [undefined, 'invalid_json']);
  assert.deepEqual(judge(` ${zeros}\n`), [{ promptTokens: 0, completionTokens: 0, cachedTokens: undefined }, undefined], 'valid JSON with zero counts is counted');
  assert.deepEqual(judge('{"id":"x"}'), [undefined, undefined]);
  assert.deepEqual(judge('null'), [undefined, undefined]);
  assert.deepEqual(judge('not json at all', 4), [undefined, undefined], 'a body over the cap is not judged');
});

test('SSE responses: the usage chunk is read across chunk boundaries', () => {
  const tap = new UsageTap(true);
  const events = 'data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}}\n\ndata: [DONE]\n\n';
  for (let i = 0; i < events.length; i += 7) tap.push(Buffer.from(events.slice(i, i + 7)));
  assert.deepEqual(tap.finish(), { promptTokens: 5, completionTokens: 2, cachedTokens: 0 });
});

test("an upstream's impossible counts are left unknown, not counted: negative, fractional, non-numeric, absurd; cached never above the prompt", () => {
  const tap = (usage: unknown) => tapJson(JSON.stringify({ id: 'x', choices: [], usage }));
  assert.deepEqual(tap({ prompt_tokens: 999_999_999, completion_tokens: -5 }), { promptTokens: undefined, completionTokens: undefined, cachedTokens: undefined });
  assert.deepEqual(tap({ prompt_tokens: 10.5, completion_tokens: '7', prompt_tokens_details: { cached_tokens: -1 } }), { promptTokens: undefined, completionTokens: undefined, cachedTokens: undefined });
  assert.deepEqual(tap({ prompt_tokens: 10, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 64 } }), { promptTokens: 10, completionTokens: 0, cachedTokens: 10 });
});
