import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/router/index.js';
import { KvgateError } from '../../src/shared/errors.js';

// Near-valid EndpointPickerConfigs: real plugin types and fields with arbitrary values mixed in.
const pluginType = fc.constantFrom('prefix-cache-scorer', 'queue-scorer', 'kv-cache-utilization-scorer', 'load-aware-scorer', 'predicted-ttft-scorer', 'max-score-picker', 'random-picker', 'weighted-random-picker', 'label-selector-filter', 'utilization-detector', 'no-such-plugin');
const anyJson = fc.jsonValue({ maxDepth: 2 });
const plugin = fc.record({ type: fc.oneof({ weight: 5, arbitrary: pluginType }, { weight: 1, arbitrary: anyJson }), name: fc.oneof(fc.constantFrom('a', 'b'), anyJson), parameters: fc.oneof(fc.dictionary(fc.constantFrom('threshold', 'blockSize', 'maxNumOfEndpoints', 'matchLabels', 'lruCapacityPerServer', 'prefillTokensPerSecond'), anyJson), anyJson) }, { requiredKeys: ['type'] });
const config = fc.record(
  {
    apiVersion: fc.oneof(fc.constantFrom('llm-d.ai/v1alpha1', 'inference.networking.x-k8s.io/v1alpha1'), anyJson),
    kind: fc.oneof(fc.constant('EndpointPickerConfig'), anyJson),
    plugins: fc.oneof({ weight: 4, arbitrary: fc.array(plugin, { maxLength: 4 }) }, { weight: 1, arbitrary: anyJson }),
    schedulingProfiles: fc.oneof(fc.array(fc.record({ name: fc.oneof(fc.constant('default'), anyJson), plugins: fc.oneof(fc.array(fc.record({ pluginRef: fc.oneof(pluginType, fc.constantFrom('a', 'b'), anyJson), weight: fc.oneof(fc.double({ noNaN: true }), anyJson) }, { requiredKeys: [] }), { maxLength: 3 }), anyJson) }, { requiredKeys: [] }), { maxLength: 2 }), anyJson),
    featureGates: anyJson,
    saturationDetector: anyJson,
  },
  { requiredKeys: [] },
);

test('any EndpointPickerConfig either loads or fails with a config error naming where, never a crash', () => {
  fc.assert(
    fc.property(fc.oneof({ weight: 9, arbitrary: config.map((c) => stringify(c)) }, { weight: 1, arbitrary: fc.string({ maxLength: 80 }) }), (text) => {
      try {
        const cfg = loadConfig({ text });
        assert.ok(cfg.schedulingProfiles.length > 0);
      } catch (err) {
        assert.ok(err instanceof KvgateError, `not a KvgateError: ${(err as Error)?.stack}\n---\n${text}`);
        assert.ok(err.message.length > 0);
      }
    }),
    { numRuns: Number(process.env.FUZZ_RUNS ?? 400), seed: process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261124 },
  );
});
