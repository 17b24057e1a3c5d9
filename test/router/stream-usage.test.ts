import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageStrippingStream, bodyWithIncludeUsage } from '../../src/router/requestcontrol/stream-usage.js';

const events = [
  'data: {"id":"1","choices":[{"index":0,"delta":{"content":"héllo \\"usage\\""}}]}\n\n',
  'data: {"id":"1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
];
const usage = 'data: {"id":"1","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":3}}}\n\n';
const done = 'data: [DONE]\n\n';

test('however the stream is chunked, the output is the stream without the usage event, and the usage is read', () => {
  const withUsage = Buffer.from(events.join('') + usage + done);
  const without = Buffer.from(events.join('') + done);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: withUsage.length - 1 }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const s = new UsageStrippingStream();
      const out: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, withUsage.length]) {
        out.push(s.push(withUsage.subarray(prev, p)));
        prev = p;
      }
      out.push(s.end());
      assert.ok(Buffer.concat(out).equals(without));
      assert.deepEqual(s.usage, { promptTokens: 5, completionTokens: 2, cachedTokens: 3 });
    }),
    { seed: 11, numRuns: 500 },
  );
});

test('events that mention usage but are not the usage-only chunk pass through', () => {
  const continuous = 'data: {"choices":[{"index":0,"delta":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n';
  const s = new UsageStrippingStream();
  assert.equal(Buffer.concat([s.push(Buffer.from(continuous)), s.end()]).toString(), continuous);
});

test('include_usage is spliced into a body without stream_options, and merged into one that has them', () => {
  const body = Buffer.from('{"model":"m","stream":true}');
  const out = bodyWithIncludeUsage(body, JSON.parse(body.toString()));
  assert.deepEqual(JSON.parse(out.toString()), { model: 'm', stream: true, stream_options: { include_usage: true } });
  const withOpts = Buffer.from('{"model":"m","stream":true,"stream_options":{"continuous_usage_stats":false}}');
  assert.deepEqual(JSON.parse(bodyWithIncludeUsage(withOpts, JSON.parse(withOpts.toString())).toString()).stream_options, { continuous_usage_stats: false, include_usage: true });
});
