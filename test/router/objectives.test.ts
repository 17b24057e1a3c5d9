import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { loadObjectives, parseObjectiveArg, readObjectivesFile } from '../../src/router/objectives.js';
import { parseOpenAIRequest } from '../../src/router/index.js';
import { KvgateError } from '../../src/shared/errors.js';
import { runKvgate } from '../helpers/cli.js';
import { parsePromText, sampleValue } from '../helpers/prom-text.js';
import { fleetWithGateway, MODEL } from '../gateway/helpers.js';

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

// Every place a priority comes from takes the same values: a decimal integer in the int32 range
// (GIE's InferenceObjective spec.priority is an int32).
const NOT_PRIORITIES = ['1.5', '99999999999999999999', '0x10', 'abc', '1e400', '1e3', '', '2147483648', '-2147483649', 'Infinity'];

test('the trusted priority header takes a decimal int32 and rejects anything else with a 400 naming the header', () => {
  const body = Buffer.from(JSON.stringify({ model: 'm', prompt: 'x' }));
  const parse = (value: string, trust = true) =>
    parseOpenAIRequest('/v1/completions', body, { requestId: 'r', headers: { 'x-kvgate-priority': value }, trustRoutingHeaders: trust, defaultPriority: 3 }).route.priority;
  assert.equal(parse('7'), 7);
  assert.equal(parse('-2147483648'), -2147483648);
  assert.equal(parse('2147483647'), 2147483647);
  assert.equal(parse('+4'), 4);
  assert.ok(Object.is(parse('-0'), 0), '-0 is 0');
  for (const v of NOT_PRIORITIES) {
    assert.throws(
      () => parse(v),
      (err) => err instanceof KvgateError && err.status === 400 && err.param === 'x-kvgate-priority' && /x-kvgate-priority must be a decimal integer/.test(err.message),
      `header ${JSON.stringify(v)}`,
    );
    assert.equal(parse(v, false), 3, `untrusted ${JSON.stringify(v)} is ignored, as every untrusted routing header`);
  }
});

test('--objective and objective manifests take the same priorities as the header', () => {
  for (const v of NOT_PRIORITIES) assert.throws(() => parseObjectiveArg(`x=${v}`), /--objective must be NAME=PRIORITY with PRIORITY a decimal integer/, v);
  assert.deepEqual(parseObjectiveArg('x=-2147483648'), ['x', -2147483648]);
  const manifest = (p: string) => `apiVersion: llm-d.ai/v1alpha1\nkind: InferenceObjective\nmetadata: { name: x }\nspec: { priority: ${p} }\n`;
  assert.throws(() => readObjectivesFile(file('big.yaml', manifest('2147483648'))), /document 1: spec\.priority/);
  assert.throws(() => readObjectivesFile(file('frac.yaml', manifest('1.5'))), /document 1: spec\.priority/);
  assert.deepEqual([...readObjectivesFile(file('max.yaml', manifest('2147483647')))], [['x', 2147483647]]);
});

test('kvgate serve rejects a --default-priority that is not a priority, naming the flag', async () => {
  for (const v of ['1.5', '0x10']) {
    const r = await runKvgate(['serve', '--endpoints', 'http://127.0.0.1:9', '--port', '0', `--default-priority=${v}`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /--default-priority must be a decimal integer from -2147483648 to 2147483647 \(got "/);
  }
});

test('through the gateway: a bad trusted priority header is a 400 OpenAI error naming it; a good one labels the request', async () => {
  const env = await fleetWithGateway(1, { trustRoutingHeaders: true });
  try {
    const client = new OpenAI({ baseURL: `${env.gateway.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    for (const v of ['1.5', '99999999999999999999', '0x10', 'abc', '1e400']) {
      const err = await client.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 1 }, { headers: { 'x-kvgate-priority': v } }).then(
        () => assert.fail(`priority ${v} was accepted`),
        (e: unknown) => e,
      );
      assert.ok(err instanceof OpenAI.BadRequestError, `priority ${v}: ${String(err)}`);
      assert.deepEqual([err.param, err.code, err.type], ['x-kvgate-priority', 'invalid_request_error', 'invalid_request_error']);
      assert.match(err.message, /x-kvgate-priority must be a decimal integer from -2147483648 to 2147483647/);
    }
    await client.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 1 }, { headers: { 'x-kvgate-priority': '7' } });
    const { samples } = parsePromText(await (await fetch(`${env.gateway.url}/metrics`)).text());
    assert.equal(sampleValue(samples, 'inference_objective_request_total', { model_name: MODEL, priority: '7' }), 1);
    assert.deepEqual(samples.filter((s) => s.name === 'inference_objective_request_total' && s.labels.model_name === MODEL).map((s) => s.labels.priority), ['7'], 'no request was routed with a bad priority');
    // The refused ones are counted before their model is known: under "" and the default priority.
    assert.equal(sampleValue(samples, 'inference_objective_request_total', { model_name: '', priority: '0' }), 5);
  } finally {
    await env.close();
  }
});
