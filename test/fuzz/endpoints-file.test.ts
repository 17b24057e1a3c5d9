import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { readEndpointsFile } from '../../src/datalayer/sources/endpoints-file.js';
import { KvgateError } from '../../src/shared/errors.js';

const file = join(mkdtempSync(join(tmpdir(), 'kvgate-epfile-')), 'endpoints.yaml');
const anyJson = fc.jsonValue({ maxDepth: 2 });
const entry = fc.oneof(
  fc.constantFrom('10.0.0.1:8000', 'http://127.0.0.1:8001', 'https://[::1]:8443', 'host-without-port', ':::'),
  fc.record({ address: fc.oneof(fc.constantFrom('10.0.0.2', '::1'), anyJson), port: fc.oneof(fc.integer({ min: -1, max: 70_000 }), fc.constantFrom('8000', 'x'), anyJson), labels: fc.oneof(fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), anyJson)), anyJson) }, { requiredKeys: [] }),
  anyJson,
);
const text = fc.oneof(
  fc.array(entry, { maxLength: 4 }).map((l) => stringify({ endpoints: l })),
  fc.array(entry, { maxLength: 4 }).map((l) => stringify(l)),
  fc.array(fc.constantFrom('10.0.0.1:8000', '# comment', '', 'http://h:1', 'nonsense'), { maxLength: 4 }).map((l) => l.join('\n')),
  fc.string({ maxLength: 80 }),
);

test('any endpoints file gives endpoints with string labels and a valid port, or a config error naming the entry', () => {
  fc.assert(
    fc.property(text, (t) => {
      writeFileSync(file, t);
      try {
        for (const e of readEndpointsFile(file)) {
          assert.ok(Number.isInteger(e.port) && e.port > 0 && e.port < 65_536, `port ${e.port}`);
          for (const v of Object.values(e.labels)) assert.equal(typeof v, 'string', `label value ${JSON.stringify(v)}`);
        }
      } catch (err) {
        assert.ok(err instanceof KvgateError, `not a KvgateError: ${(err as Error)?.stack}\n---\n${t}`);
      }
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 300), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 },
  );
});
