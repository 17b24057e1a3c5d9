import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, listPresets, createRouter } from '../../src/router/index.js';
import { runKvgate } from '../helpers/cli.js';

test('no config → the EPP built-in default (queue 2, kv 2, prefix 3) with injected picker, handler and detector', () => {
  const c = loadConfig();
  const w = Object.fromEntries(c.schedulingProfiles[0].plugins.map((p) => [p.pluginRef, p.weight]));
  assert.equal(w['queue-scorer'], 2);
  assert.equal(w['kv-cache-utilization-scorer'], 2);
  assert.equal(w['prefix-cache-scorer'], 3);
  assert.ok(c.schedulingProfiles[0].plugins.some((p) => p.pluginRef === 'max-score-picker'));
  assert.ok(c.plugins.some((p) => p.type === 'single-profile-handler'));
  assert.equal(c.saturationDetector.pluginRef, 'utilization-detector');
});

test('the seed deployment profile loads exactly as written', () => {
  const text = `apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefix-cache-scorer
- type: load-aware-scorer
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: prefix-cache-scorer
    weight: 2.0                      # ✅ Cache-aware routing enabled!
  - pluginRef: load-aware-scorer
    weight: 1.0
`;
  const c = loadConfig({ text });
  assert.deepEqual(c.schedulingProfiles[0].plugins.slice(0, 2), [
    { pluginRef: 'prefix-cache-scorer', weight: 2 },
    { pluginRef: 'load-aware-scorer', weight: 1 },
  ]);
  assert.deepEqual(loadConfig({ preset: 'seed' }).schedulingProfiles, c.schedulingProfiles);
});

test('the GIE docs example (prefix scorer with parameters, explicit handler and picker) loads unchanged', () => {
  const c = loadConfig({
    text: `apiVersion: llm-d.ai/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: prefix-cache-scorer
  parameters:
    blockSizeTokens: 5
    maxPrefixBlocksToMatch: 256
    lruCapacityPerServer: 31250
- type: single-profile-handler
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: prefix-cache-scorer
    weight: 50
  - pluginRef: max-score-picker
`,
  });
  assert.equal(c.plugins.filter((p) => p.type === 'max-score-picker').length, 1);
  assert.equal(c.schedulingProfiles[0].plugins[0].weight, 50);
  createRouter({ config: c });
});

test('no schedulingProfiles → one "default" profile with every filter, scorer and picker', () => {
  const c = loadConfig({ text: 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: queue-scorer\n- type: decode-filter\n' });
  assert.equal(c.schedulingProfiles.length, 1);
  assert.equal(c.schedulingProfiles[0].name, 'default');
  assert.deepEqual(c.schedulingProfiles[0].plugins.map((p) => p.pluginRef), ['queue-scorer', 'decode-filter', 'max-score-picker']);
});

test('every preset loads and builds a router', () => {
  assert.deepEqual(listPresets(), ['gie-default', 'kvgate', 'least-request', 'precise', 'random', 'round-robin', 'seed', 'sglang-cache-aware']);
  for (const p of listPresets()) createRouter({ config: loadConfig({ preset: p }) });
});

const HEAD = 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n';
const invalid: [string, string, RegExp][] = [
  ['unknown plugin type', `${HEAD}plugins:\n- type: prefix-scorer\n`, /plugins\[0\]\.type: unknown plugin type "prefix-scorer"/],
  ['unknown top-level field', `${HEAD}pluginz: []\n`, /\(top level\)|pluginz/],
  ['duplicate names', `${HEAD}plugins:\n- type: queue-scorer\n- type: queue-scorer\n`, /plugins\[1\]\.name: duplicate plugin name "queue-scorer"/],
  ['dangling pluginRef', `${HEAD}plugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: nope\n`, /schedulingProfiles\[0\]\.plugins\[0\]\.pluginRef: no plugin named "nope"/],
  ['bad parameter type', `${HEAD}plugins:\n- type: load-aware-scorer\n  parameters:\n    threshold: lots\n`, /plugins\[0\]\.parameters\.threshold/],
  ['unknown parameter', `${HEAD}plugins:\n- type: max-score-picker\n  parameters:\n    maxEndpoints: 2\n`, /plugins\[0\]\.parameters/],
  ['wrong apiVersion', 'apiVersion: v1\nkind: EndpointPickerConfig\n', /apiVersion/],
  ['wrong kind', 'apiVersion: llm-d.ai/v1alpha1\nkind: Pod\n', /kind/],
  ['unknown feature gate', `${HEAD}featureGates: [warpDrive]\n`, /featureGates\[0\]: unknown feature gate "warpDrive"/],
  ['two pickers in a profile', `${HEAD}plugins:\n- type: random-picker\n- type: max-score-picker\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: random-picker\n  - pluginRef: max-score-picker\n`, /at most one picker/],
  ['invalid YAML', `${HEAD}plugins: [\n`, /invalid YAML/],
];
for (const [name, text, re] of invalid) {
  test(`invalid config: ${name} → error naming the path`, () => {
    assert.throws(() => loadConfig({ text }), (e: Error) => re.test(e.message) && e.message.startsWith('config text:'));
  });
}

test('kvgate config check: 0 and the effective config for a good file; 1 and the errors for a bad one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-cfg-'));
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, `${HEAD}plugins:\n- type: queue-scorer\n`);
  writeFileSync(bad, `${HEAD}plugins:\n- type: prefix-scorer\n`);
  const ok = await runKvgate(['config', 'check', good, '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  const eff = JSON.parse(ok.stdout);
  assert.equal(eff.saturationDetector.pluginRef, 'utilization-detector');
  const ko = await runKvgate(['config', 'check', bad]);
  assert.equal(ko.code, 1);
  assert.match(ko.stderr, new RegExp(`${bad.replace(/[/.]/g, '\\$&')}: plugins\\[0\\]\\.type: unknown plugin type`));
  const preset = await runKvgate(['config', 'check', '--preset', 'seed']);
  assert.equal(preset.code, 0);
  assert.match(preset.stdout, /load-aware-scorer/);
  const missing = await runKvgate(['config', 'check', join(dir, 'missing.yaml')]);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `kvgate: config check: cannot read ${join(dir, 'missing.yaml')}: no such file\n`);
  const directory = await runKvgate(['config', 'check', dir]);
  assert.equal(directory.code, 1);
  assert.equal(directory.stderr, `kvgate: config check: cannot read ${dir}: it is a directory\n`);
});

test('upstreamApiKey: read from the file (trimmed), never printed or serialised; a bad value is an error that does not show it', async () => {
  const head = 'apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\n';
  const c = loadConfig({ text: `${head}upstreamApiKey: "  sk-file-7a1b  "\n` });
  assert.equal(c.upstreamApiKey, 'sk-file-7a1b');
  assert.ok(!JSON.stringify(c).includes('sk-file'), 'not in the serialised config');
  assert.equal(structuredClone(c).upstreamApiKey, undefined, 'not carried to worker threads');
  assert.equal(loadConfig({ text: head }).upstreamApiKey, undefined);
  const refused = (value: string) => {
    try {
      loadConfig({ text: `${head}upstreamApiKey: ${value}\n` });
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail(`upstreamApiKey: ${value} was accepted`);
  };
  assert.match(refused('"  "'), /^config text: upstreamApiKey: upstreamApiKey is empty/);
  assert.match(refused('"s\u00e9cret-9"'), /^config text: upstreamApiKey: upstreamApiKey holds characters an HTTP header cannot carry/);
  const numeric = refused('12345678901');
  assert.match(numeric, /^config text: upstreamApiKey: expected a string.*quoted/);
  assert.doesNotMatch(numeric, /12345678901/);
  assert.doesNotMatch(refused('"s\u00e9cret-9"'), /cret-9/);
  // kvgate config check validates it and leaves it out of what it prints.
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-key-'));
  const file = join(dir, 'epp.yaml');
  writeFileSync(file, `${head}upstreamApiKey: sk-file-7a1b\n`);
  for (const args of [[], ['--json']]) {
    const r = await runKvgate(['config', 'check', file, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /sk-file/);
  }
  // kvgate render ships the file as written, in a ConfigMap: a key there is refused.
  const render = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '--config-file', file, '--output', '-']);
  assert.equal(render.code, 1);
  assert.match(render.stderr, /--config-file: .* sets upstreamApiKey, which would be written into the EPP's ConfigMap in clear: .*KVGATE_UPSTREAM_API_KEY from a Secret/);
  assert.doesNotMatch(render.stdout + render.stderr, /sk-file/);
});
