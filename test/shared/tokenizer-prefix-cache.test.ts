import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EstimateTokenizer, PrefixCachingTokenizer, createCutPointTokenizer, renderChatML, type CutPointTokenizer } from '../../src/shared/tokenizer/index.js';
import { createTokenizer } from '../../src/engine/index.js';

const FUZZ = { numRuns: Number(process.env.FUZZ_RUNS ?? 200), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 };

/** Text made of the pieces that stress token boundaries: newlines before letters, whitespace runs, digits, marks, specials. */
const piece = fc.constantFrom(
  'a', 'Hello', ' world', 'The', '\n', '\n\n', '\r\n', ' \n', '\t', '  ', '.', ',', "'s", "'ll", '12', '3', '(', ')', '"', '-',
  'é', 'e\u0301', '\u0301', '日本語', '🙂', '한', '\u1100\u1161', 'Ω', '<|im_start|>', '<|im_end|>', '<|endoftext|>', '<', '|', 'user', 'system',
);
const text = fc.array(piece, { maxLength: 80 }).map((a) => a.join(''));

let qwen: CutPointTokenizer | undefined;
const loadQwen = async () => (qwen ??= await createCutPointTokenizer('qwen'));

for (const which of ['estimate', 'qwen'] as const) {
  test(`${which}: every cut is exact — cached piecewise encoding equals the plain encoding`, async () => {
    const base = which === 'estimate' ? new EstimateTokenizer() : await loadQwen();
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 24 }), (t, pieceChars) => {
        for (let from = 1; from <= t.length; from += 7) assert.ok(base.nextCut(t, from) >= from);
        const cached = new PrefixCachingTokenizer(base, { minCachedChars: 0, pieceChars });
        assert.deepEqual(cached.encode(t), base.encode(t), JSON.stringify(t));
        assert.deepEqual(cached.encode(t), base.encode(t), 'again, from the cache');
      }),
      FUZZ,
    );
  });
}

test('qwen: newline-before-letter cuts are taken (not only special tokens)', async () => {
  const base = await loadQwen();
  const t = 'first line of text\nSecond line\n\n  indented\nthird';
  assert.equal(base.nextCut(t, 1), t.indexOf('\nSecond') + 1);
  assert.equal(base.nextCut(t, t.indexOf('indented')), t.indexOf('\nthird') + 1);
  assert.equal(base.nextCut('abc<|im_end|>def', 5), 'abc<|im_end|>'.length, 'inside a special token: its end');
});

test('a long shared system prompt is tokenized once; later requests reuse its pieces', async () => {
  const base = await loadQwen();
  let calls = 0;
  const counting: CutPointTokenizer = { ...base, name: base.name, nextCut: (t, f) => base.nextCut(t, f), encode: (t) => ((calls += t.length), base.encode(t)), decode: (i) => base.decode(i), renderChat: (m) => base.renderChat(m) };
  const cached = new PrefixCachingTokenizer(counting);
  const system = Array.from({ length: 200 }, (_, i) => `Rule ${i}: answer in the user's language and cite sources.\n`).join('');
  const req = (q: string) => renderChatML([{ role: 'system', content: system }, { role: 'user', content: q }]);
  const first = cached.encode(req('What is the capital of France?'));
  const charsFirst = calls;
  const second = cached.encode(req('Summarise the rules in one sentence.'));
  const charsSecond = calls - charsFirst;
  assert.deepEqual(first, base.encode(req('What is the capital of France?')));
  assert.deepEqual(second, base.encode(req('Summarise the rules in one sentence.')));
  assert.ok(charsSecond < system.length / 5, `second request re-tokenized ${charsSecond} of ${system.length} system-prompt characters`);
  assert.ok(cached.stats().hits > 0);
});

test('the cache stays within its token budget', () => {
  const cached = new PrefixCachingTokenizer(new EstimateTokenizer(), { minCachedChars: 0, pieceChars: 40, maxCachedTokens: 100 });
  for (let i = 0; i < 50; i++) cached.encode(Array.from({ length: 30 }, (_, j) => `line ${i}-${j}\n`).join(''));
  assert.ok(cached.stats().cachedTokens <= 100, `${cached.stats().cachedTokens} tokens cached`);
  assert.ok(cached.stats().pieces > 0);
});

test("router-side qwen (@huggingface/tokenizers) gives the engine's ids (@lenml/tokenizers)", async () => {
  const router = await loadQwen();
  const engine = await createTokenizer('qwen');
  fc.assert(
    fc.property(text, (t) => {
      assert.deepEqual(router.encode(t), engine.encode(t), JSON.stringify(t));
    }),
    FUZZ,
  );
  const chat = renderChatML([{ role: 'system', content: 'You are terse.\nNever apologise.' }, { role: 'user', content: "What's 2+2? Answer in 日本語 🙂" }]);
  assert.deepEqual(router.encode(chat), engine.encode(chat));
});
