// EndpointPickerConfigs written for older GIE / llm-d releases load, with one warning each for
// what kvgate maps or leaves unused, and the errors that remain say what to change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRouter, kvEventsSettings, loadConfig, pluginTypes } from '../../src/router/index.js';
import { tokenProcessorSettings, PrecisePrefixParams } from '../../src/router/plugins/producers/precise-prefix-params.js';
import { detectorThresholds } from '../../src/router/flowcontrol/flow-control.js';
import { KvgateError } from '../../src/shared/errors.js';
import { runKvgate } from '../helpers/cli.js';
import { req, routerWith } from './helpers.js';

/** Loads config text, collecting its warnings instead of writing them to stderr. */
function load(text: string) {
  const warnings: string[] = [];
  const config = loadConfig({ text, onWarning: (w) => warnings.push(w) });
  return { config, warnings };
}

const errorOf = (text: string): string => {
  try {
    load(text);
  } catch (err) {
    assert.ok(err instanceof KvgateError, String(err));
    return err.message;
  }
  assert.fail('expected the config to be rejected');
};

// llm-d-inference-scheduler's e2e kvConfig (test/e2e, 2025-08 to 2026-05): the token processor
// beside indexerConfig, llm-d-kv-cache's prefix store inside it.
const LLMD_E2E = `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    tokenProcessorConfig:
      blockSize: 16
      hashSeed: "42"
    kvEventsConfig:
      zmqEndpoint: tcp://0.0.0.0:5557
    indexerConfig:
      prefixStoreConfig:
        blockSize: 16
      tokenizersPoolConfig:
        modelName: Qwen/Qwen2.5-1.5B-Instruct
        hf:
          tokenizersCacheDir: "/cache/tokenizers"
      kvBlockIndexConfig:
        enableMetrics: false                  # enable kv-block index metrics (prometheus)
        metricsLoggingInterval: 6000000000    # log kv-block metrics as well (1m in nanoseconds)
- type: decode-filter
- type: max-score-picker
- type: single-profile-handler
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: decode-filter
  - pluginRef: max-score-picker
  - pluginRef: precise-prefix-cache-scorer
    weight: 10
`;

// llm-d-inference-scheduler's deploy/config/sim-epp-kvcache-config.yaml: the token processor
// inside indexerConfig (llm-d-kv-cache v0.2–v0.4 and v0.7 read it there).
const LLMD_SIM = `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: precise-prefix-cache-scorer
  parameters:
    kvEventsConfig:
      zmqEndpoint: tcp://0.0.0.0:5557
    indexerConfig:
      tokenProcessorConfig:
        blockSize: 16                         # must match vLLM block size if not default (16)
        hashSeed: "42"                        # must match PYTHONHASHSEED in vLLM pods
      tokenizersPoolConfig:
        modelName: TinyLlama/TinyLlama-1.1B-Chat-v1.0
        hf:
          tokenizersCacheDir: "/cache/tokenizers"
      kvBlockIndexConfig:
        enableMetrics: false
        metricsLoggingInterval: 6000000000
- type: decode-filter
- type: max-score-picker
- type: single-profile-handler
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: decode-filter
  - pluginRef: max-score-picker
  - pluginRef: precise-prefix-cache-scorer
    weight: 10
`;

test("llm-d's precise-prefix-cache-scorer layouts load: the token processor beside or inside indexerConfig, the prefix store inside", () => {
  for (const text of [LLMD_E2E, LLMD_SIM]) {
    const { config, warnings } = load(text);
    assert.deepEqual(kvEventsSettings(config), { bind: 'tcp://0.0.0.0:5557' });
    createRouter({ config });
    const spec = config.plugins.find((p) => p.type === 'precise-prefix-cache-scorer')!;
    // The same settings from either placement.
    assert.deepEqual(tokenProcessorSettings(PrecisePrefixParams.parse(spec.parameters)).settings, { blockSizeTokens: 16, hashSeed: '42' });
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0], /^config text: plugins\[0\]\.parameters: precise-prefix-cache-scorer: /);
    assert.match(warnings[0], /not used: the token processor's block size 16, hash seed "42"/);
    assert.match(warnings[0], /indexerConfig\.tokenizersPoolConfig, indexerConfig\.kvBlockIndexConfig/);
  }
  assert.match(load(LLMD_E2E).warnings[0], /indexerConfig\.prefixStoreConfig \(llm-d-kv-cache's tokenization prefix store/);
  assert.match(load(LLMD_SIM).warnings[0], /indexerConfig\.tokenProcessorConfig is read as tokenProcessorConfig/);
  // The producer takes the same parameters.
  load(LLMD_SIM.replace('type: precise-prefix-cache-scorer', 'type: precise-prefix-cache-producer').replace(/- pluginRef: precise-prefix-cache-scorer\n {4}weight: 10\n/, ''));
});

test('the token processor in both places: equal values load, different ones are an error naming both', () => {
  const both = (top: string, nested: string) =>
    `apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: precise-prefix-cache-scorer\n  parameters:\n    tokenProcessorConfig: ${top}\n    indexerConfig:\n      tokenProcessorConfig: ${nested}\n`;
  const same = load(both('{blockSize: 16, hashSeed: "42"}', '{blockSizeTokens: 16, hashSeed: "42"}'));
  assert.match(same.warnings[0], /block size 16, hash seed "42"/);
  const size = errorOf(both('{blockSizeTokens: 64}', '{blockSize: 16}'));
  assert.match(size, /^config text: plugins\[0\]\.parameters\.indexerConfig\.tokenProcessorConfig\.blockSize: 16 here but 64 in tokenProcessorConfig\.blockSizeTokens: .*keep one/);
  const seed = errorOf(both('{hashSeed: "1"}', '{hashSeed: "42"}'));
  assert.match(seed, /indexerConfig\.tokenProcessorConfig\.hashSeed: "42" here but "1" in tokenProcessorConfig\.hashSeed/);
  assert.doesNotMatch(seed, /no plugin named/);
  // Keys llm-d never had there are still errors.
  assert.match(errorOf(both('{}', '{blockSize: 16, bogus: 1}')), /indexerConfig\.tokenProcessorConfig: Unrecognized key: "bogus"/);
});

const HEAD = 'apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\n';

test("GIE v1.2–v1.4's saturationDetector thresholds become the utilization detector's parameters, with a warning", () => {
  const { config, warnings } = load(`${HEAD}saturationDetector:\n  queueDepthThreshold: 2\n  kvCacheUtilThreshold: 0.9\n  metricsStalenessThreshold: 1m30s\n`);
  const det = config.plugins.find((p) => p.name === config.saturationDetector.pluginRef)!;
  assert.equal(det.type, 'utilization-detector');
  assert.deepEqual(det.parameters, { queueDepthThreshold: 2, kvCacheUtilThreshold: 0.9, metricsStalenessThreshold: '1m30s' });
  assert.deepEqual(detectorThresholds(config), { queueDepthThreshold: 2, kvCacheUtilThreshold: 0.9, metricsStalenessMs: 90_000, headroom: 0 });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /^config text: saturationDetector: thresholds directly under saturationDetector \(queueDepthThreshold, kvCacheUtilThreshold, metricsStalenessThreshold\) are GIE v1\.2–v1\.4's form/);
  assert.match(warnings[0], /set saturationDetector\.pluginRef/);
  // The router's admission check uses them: a queue of 3 saturates at threshold 2, not at GIE's default 5.
  const sheddable = req({ priority: -1 });
  assert.throws(() => routerWith([{ queue: 3 }], config).pick(sheddable, 10_000), /pool is saturated/);
  routerWith([{ queue: 3 }], load(HEAD).config).pick(sheddable, 10_000);
  // Values GIE v1.4 replaced by its default (0 = unset, KV outside (0, 1)) are replaced likewise, and said.
  const zero = load(`${HEAD}saturationDetector: {queueDepthThreshold: 0, kvCacheUtilThreshold: 1.0}\n`);
  assert.deepEqual(detectorThresholds(zero.config), { queueDepthThreshold: 5, kvCacheUtilThreshold: 0.8, metricsStalenessMs: 200, headroom: 0 });
  assert.match(zero.warnings[0], /kvCacheUtilThreshold 1 is out of range, so GIE's default 0\.8 is used/);
  // A utilization-detector declared for something else keeps its name and parameters.
  const taken = load(`${HEAD}- type: utilization-detector\n  parameters: {headroom: 0.5}\nsaturationDetector: {queueDepthThreshold: 3}\n`).config;
  assert.equal(taken.saturationDetector.pluginRef, 'utilization-detector-2');
  assert.deepEqual(detectorThresholds(taken).queueDepthThreshold, 3);
});

test('saturationDetector: pluginRef with thresholds is an error naming both; bad thresholds name their path; {} is the default', () => {
  const mixed = errorOf(`${HEAD}- type: utilization-detector\n  name: det\nsaturationDetector:\n  pluginRef: det\n  queueDepthThreshold: 5\n`);
  assert.match(mixed, /^config text: saturationDetector: pluginRef and queueDepthThreshold cannot be combined: .*parameters of the plugin "det"/);
  const bad = errorOf(`${HEAD}saturationDetector: {queueDepthThreshold: lots, metricsStalenessThreshold: soon}\n`);
  assert.match(bad, /saturationDetector\.queueDepthThreshold: expected a number, got "lots"/);
  assert.match(bad, /saturationDetector\.metricsStalenessThreshold: expected a duration like 200ms/);
  assert.doesNotMatch(bad, /Invalid input|received/);
  assert.match(errorOf(`${HEAD}saturationDetector: {pluginRef: det, bogus: 1}\n`), /saturationDetector: Unrecognized key: "bogus"/);
  // GIE v1.5: pluginRef may be omitted (utilization-detector).
  const { config, warnings } = load(`${HEAD}saturationDetector: {}\n`);
  assert.equal(config.saturationDetector.pluginRef, 'utilization-detector');
  assert.deepEqual(warnings, []);
  // A staleness the detector cannot read is a config error, not a failure when the router starts.
  assert.match(errorOf(`${HEAD}- type: utilization-detector\n  parameters: {metricsStalenessThreshold: 5 minutes}\n`), /plugins\[1\]\.parameters\.metricsStalenessThreshold: expected a duration/);
});

test("GIE v0.5's kv-cache-scorer loads as kv-cache-utilization-scorer, with a warning; GIE's removed filters say what replaced them", () => {
  const text = `${HEAD}- type: kv-cache-scorer\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: kv-cache-scorer\n    weight: 1\n  - pluginRef: queue-scorer\n    weight: 1\n`;
  const { config, warnings } = load(text);
  assert.deepEqual(
    config.plugins.filter((p) => p.name === 'kv-cache-scorer'),
    [{ name: 'kv-cache-scorer', type: 'kv-cache-utilization-scorer', parameters: {} }],
  );
  assert.deepEqual(warnings, [
    'config text: plugins[1].type: "kv-cache-scorer" is GIE v0.5\'s name for kv-cache-utilization-scorer (renamed in GIE v1.0.0); loaded as kv-cache-utilization-scorer — rename it to silence this',
  ]);
  // It scores as kv-cache-utilization-scorer: 1 − KV usage.
  const pick = routerWith([{ kv: 0.9 }, { kv: 0.2 }], config).pick(req(), 10_000);
  assert.equal(pick.scores.find((s) => s.endpointId === '192.168.1.2:8000')!.byPlugin['kv-cache-scorer'], 0.8);
  assert.ok(!pluginTypes().includes('kv-cache-scorer'), 'former names are not offered as known types');
  const removed = errorOf(`${HEAD}- type: low-queue-filter\n`);
  assert.match(removed, /plugins\[1\]\.type: plugin type "low-queue-filter" is GIE v0\.5's legacy filter, removed in GIE v1\.0\.0; use utilization-filter/);
  assert.match(errorOf(`${HEAD}- type: lora-affinity-filter\n`), /replaced in GIE v1\.0\.0 by lora-affinity-scorer/);
});

test('an empty or comment-only config says so and what it needs; a list says what was expected', async () => {
  const need = 'is empty: an EndpointPickerConfig needs at least apiVersion (llm-d.ai/v1alpha1 or inference.networking.x-k8s.io/v1alpha1) and kind: EndpointPickerConfig';
  assert.equal(errorOf(''), `config text ${need}`);
  assert.equal(errorOf('# to do\n\n'), `config text ${need}`);
  assert.equal(errorOf('- type: queue-scorer\n'), 'config text: expected a mapping with apiVersion, kind and plugins, got a list');
  assert.match(errorOf('apiVersion: v1\n'), /^config text: apiVersion: "v1" is not supported: expected llm-d\.ai\/v1alpha1 or inference\.networking\.x-k8s\.io\/v1alpha1\nconfig text: kind: missing: expected EndpointPickerConfig$/);
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'epp.yaml');
  writeFileSync(file, '# EndpointPickerConfig, filled in by the deploy job\n');
  const r = await runKvgate(['config', 'check', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[/.]/g, '\\$&')} is empty: an EndpointPickerConfig needs at least apiVersion`));
  assert.doesNotMatch(r.stderr, /Invalid option/);
});

test('config check on a deprecated form: exit 0, the warning once on stderr, the effective config without it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'old.yaml');
  writeFileSync(file, `${HEAD}saturationDetector: {queueDepthThreshold: 7}\n`);
  const r = await runKvgate(['config', 'check', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr.match(/warning:/g)?.length, 1, r.stderr);
  assert.match(r.stderr, /^kvgate: warning: .*old\.yaml: saturationDetector: thresholds directly under saturationDetector \(queueDepthThreshold\)/);
  const eff = JSON.parse(r.stdout);
  assert.equal(eff.warnings, undefined);
  assert.deepEqual(eff.plugins.find((p: { name: string }) => p.name === eff.saturationDetector.pluginRef).parameters, { queueDepthThreshold: 7 });
  // Loaded twice in one process: each load carries the warning, stderr has it once.
  const written: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string | Uint8Array) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
  let loads;
  try {
    loads = [loadConfig({ file }), loadConfig({ file })];
  } finally {
    process.stderr.write = write;
  }
  assert.deepEqual(loads.map((c) => c.warnings?.length), [1, 1]);
  assert.deepEqual(written, [`kvgate: warning: ${loads[0].warnings![0]}\n`]);
});
