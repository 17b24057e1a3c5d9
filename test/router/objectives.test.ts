import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadObjectives, parseObjectiveArg, readObjectivesFile } from '../../src/router/objectives.js';
import { parseOpenAIRequest } from '../../src/router/index.js';
import { runKvgate } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kvgate-objectives-'));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const manifests = `apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: { name: interactive, namespace: llm }
spec: { priority: 10, poolRef: { name: pool } }
---
apiVersion: llm-d.ai/v1alpha1
kind: InferenceObjective
metadata: { name: batch }
spec: { priority: -1 }
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata: { name: unset }
---
`;

test('InferenceObjective manifests load as name → priority (unset priority is 0)', () => {
  assert.deepEqual([...readObjectivesFile(file('ok.yaml', manifests))], [['interactive', 10], ['batch', -1], ['unset', 0]]);
});

test('bad manifests and flags give errors naming the document, field or flag', () => {
  const cases: [string, RegExp][] = [
    ['kind: InferencePool\napiVersion: llm-d.ai/v1alpha1\nmetadata: { name: x }\n', /document 1: kind/],
    [`${manifests}apiVersion: llm-d.ai/v1alpha1\nkind: InferenceObjective\nmetadata: { name: b }\nspec: { priority: high }\n`, /document 4: spec\.priority/],
    [`${manifests}apiVersion: llm-d.ai/v1alpha1\nkind: InferenceObjective\nmetadata: { name: batch }\n`, /document 4: InferenceObjective "batch" is defined twice/],
    ['apiVersion: llm-d.ai/v1alpha1\nkind: InferenceObjective\nmetadata: {}\n', /document 1: metadata\.name/],
    ['a: [1, 2\n', /document 1:/],
  ];
  cases.forEach(([text, err], i) => assert.throws(() => readObjectivesFile(file(`bad${i}.yaml`, text)), err));
  assert.throws(() => readObjectivesFile(join(dir, 'missing.yaml')), /cannot read objectives file/);
  assert.throws(() => parseObjectiveArg('batch'), /--objective must be NAME=PRIORITY/);
  assert.throws(() => parseObjectiveArg('batch=low'), /--objective must be NAME=PRIORITY/);
  assert.deepEqual(parseObjectiveArg('batch=-2'), ['batch', -2]);
  assert.deepEqual([...loadObjectives({ file: join(dir, 'ok.yaml'), args: ['batch=-5', 'new=3'], trustRoutingHeaders: true })], [['interactive', 10], ['batch', -5], ['unset', 0], ['new', 3]]);
});

test('a trusted objective header sets the priority; unknown or untrusted ones leave the default', () => {
  const objectives = new Map([['interactive', 10], ['batch', -1]]);
  const body = Buffer.from(JSON.stringify({ model: 'm', prompt: 'x' }));
  const priority = (headers: Record<string, string>, trust = true, defaultPriority = 0) =>
    parseOpenAIRequest('/v1/completions', body, { requestId: 'r', headers, trustRoutingHeaders: trust, objectives, defaultPriority }).route.priority;
  assert.equal(priority({ 'x-gateway-inference-objective': 'batch' }), -1);
  assert.equal(priority({ 'x-llm-d-inference-objective': 'interactive' }), 10, "llm-d's header name works too");
  assert.equal(priority({ 'x-gateway-inference-objective': 'nope' }, true, 2), 2, 'an undefined objective has the default priority');
  assert.equal(priority({ 'x-gateway-inference-objective': 'batch' }, false), 0, 'not trusted: ignored');
  assert.equal(priority({ 'x-gateway-inference-objective': 'batch', 'x-kvgate-priority': '4' }), 4, 'an explicit priority wins');
});

test('kvgate serve rejects an --objective without trusted headers, and a malformed one, naming the flag', async () => {
  const untrusted = await runKvgate(['serve', '--endpoints', 'http://127.0.0.1:9', '--port', '0', '--objective', 'batch=-1']);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /--objective \/ --objectives-file need --trust-routing-headers/);
  const malformed = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--objective', 'batch', '--trust-routing-headers']);
  assert.equal(malformed.code, 1);
  assert.match(malformed.stderr, /--objective must be NAME=PRIORITY/);
});
