import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';
import { loadConfig } from '../../src/router/index.js';
import { recentlyServedWindowMs } from '../../src/router/plugins/data-plugins.js';
import { KvgateError, ErrorCode } from '../../src/shared/errors.js';

const HEAD = 'apiVersion: llm-d.ai/v1alpha1\nkind: EndpointPickerConfig\n';

test('config check: a plugin whose parameters fail validation is reported once, not also as missing where a profile names it', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'bogus.yaml');
  writeFileSync(file, `${HEAD}plugins:\n- type: prefix-cache-scorer\n  parameters: {bogusParam: 1}\n- type: queue-scorer\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: prefix-cache-scorer\n  - pluginRef: queue-scorer\n`);
  const r = await runKvgate(['config', 'check', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /plugins\[0\]\.parameters: Unrecognized key: "bogusParam"/);
  assert.doesNotMatch(r.stderr, /no plugin named/);
  // The same for a plugin of an unknown type; a reference to a plugin never declared is still an error.
  const unknown = `${HEAD}plugins:\n- type: prefix-scorer\n  name: p\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: p\n  - pluginRef: nope\n`;
  assert.throws(() => loadConfig({ text: unknown }), (e: Error) => /unknown plugin type "prefix-scorer"/.test(e.message) && !/no plugin named "p"/.test(e.message) && /no plugin named "nope"/.test(e.message));
});

test('config check without a file or --preset prints the preset every command defaults to (kvgate)', async () => {
  const r = await runKvgate(['config', 'check', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const kvgate = loadConfig({ preset: 'kvgate' });
  const { source: _source, ...body } = kvgate;
  assert.deepEqual(JSON.parse(r.stdout), JSON.parse(JSON.stringify(body)));
  const text = await runKvgate(['config', 'check']);
  assert.match(text.stdout, /^# effective config from preset kvgate/);
  const help = await runKvgate(['config', 'check', '--help']);
  assert.match(help.stdout, /--preset <name>[\s\S]*default: kvgate/);
});

test('config check FILE --preset NAME is an error naming both, not FILE checked and --preset ignored', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'mine.yaml');
  writeFileSync(file, 'this: is not checked\n');
  const r = await runKvgate(['config', 'check', '--preset', 'kvgate', file]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`^kvgate: --preset kvgate and the file ${file} both name a config to check: give one of them$`, 'm'));
  assert.equal(r.stdout, '');
});

test('config check FILE with an upstreamApiKey says it is set, never its value (text and --json)', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'keyed.yaml');
  const secret = 'sk-config-check-secret-1234';
  writeFileSync(file, `${HEAD}upstreamApiKey: ${secret}\nplugins:\n- type: queue-scorer\nschedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: queue-scorer\n`);
  const text = await runKvgate(['config', 'check', file]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^# upstreamApiKey: set \(value not shown/m);
  const json = await runKvgate(['config', 'check', file, '--json']);
  assert.equal(json.code, 0, json.stderr);
  assert.equal((JSON.parse(json.stdout) as Record<string, unknown>).upstreamApiKey, undefined, 'stdout stays the effective config');
  assert.match(json.stderr, /^config check: upstreamApiKey: set \(value not shown/m);
  for (const out of [text.stdout, text.stderr, json.stdout, json.stderr]) assert.ok(!out.includes(secret), 'the key is never printed');
  // Without the field, nothing is said about it.
  const plain = await runKvgate(['config', 'check']);
  assert.doesNotMatch(plain.stdout + plain.stderr, /upstreamApiKey/);
});

test('two models-data-source plugins are a config error naming both (config check and serve --config-file exit 1), not the first silently used', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'two-models.yaml');
  writeFileSync(
    file,
    `${HEAD}plugins:\n- type: models-data-source\n  name: models-a\n  parameters: {recentlyServedWindowSeconds: 60}\n- type: queue-scorer\n- type: models-data-source\n  name: models-b\n  parameters: {recentlyServedWindowSeconds: 600}\n` +
      'schedulingProfiles:\n- name: default\n  plugins:\n  - pluginRef: queue-scorer\n',
  );
  const message = new RegExp(`^kvgate: (--config-file: )?${file}: plugins\\[2\\]: "models-b" is a second models-data-source plugin beside "models-a" \\(plugins\\[0\\]\\).*keep one of "models-a" and "models-b"$`, 'm');
  const check = await runKvgate(['config', 'check', file]);
  assert.equal(check.code, 1, check.stdout);
  assert.match(check.stderr, message);
  assert.equal(check.stdout, '');
  const serve = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--config-file', file], { timeoutMs: 30_000 });
  assert.equal(serve.code, 1, `serve started with the config: ${serve.stderr}`);
  assert.match(serve.stderr, message);
  assert.doesNotMatch(serve.stderr, /\n\s+at /, 'a message, not a stack trace');
  // In the library: a KvgateError with the stable code invalid_config.
  assert.throws(() => loadConfig({ file }), (e: unknown) => e instanceof KvgateError && e.code === ErrorCode.InvalidConfig && e.code === 'invalid_config');
  // Two left unnamed share the type as their name: one error saying so, not also "duplicate plugin name".
  assert.throws(
    () => loadConfig({ text: `${HEAD}plugins:\n- type: models-data-source\n- type: queue-scorer\n- type: models-data-source\n` }),
    (e: Error) => /plugins\[2\]: "models-data-source" is a second models-data-source plugin beside "models-data-source" \(plugins\[0\]\)/.test(e.message) && !/duplicate plugin name/.test(e.message),
  );
  // One is fine, its window read.
  const one = loadConfig({ text: `${HEAD}plugins:\n- type: models-data-source\n  name: models-a\n  parameters: {recentlyServedWindowSeconds: 60}\n- type: queue-scorer\n` });
  assert.equal(recentlyServedWindowMs(one), 60_000);
});

test('config check: a file of several YAML documents says so and where, not yaml\'s "please use YAML.parseAllDocuments()"', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-cfg-')), 'two.yaml');
  writeFileSync(file, `${HEAD}plugins:\n- type: prefix-cache-scorer\n---\n${HEAD}plugins:\n- type: queue-scorer\n`);
  const r = await runKvgate(['config', 'check', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^kvgate: ${file}: more than one YAML document \\(a --- separator at line 5\\): an EndpointPickerConfig is one document; keep one per file$`, 'm'));
  assert.doesNotMatch(r.stderr, /parseAllDocuments/);
});
