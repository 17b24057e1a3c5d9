import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runKvgate } from '../helpers/cli.js';

const base = ['render', '--name', 'a', '--namespace', 'b', '--model', 'm', '-o', '-'];

test('render --kserve refuses the flags of objects KServe owns (--autoscaler, --prometheus-url, --model-server-image): they were dropped without a trace', async () => {
  for (const flag of [['--autoscaler', 'keda'], ['--prometheus-url', 'http://prom:9090'], ['--model-server-image', 'vllm/vllm-openai:v0.11.0']]) {
    const r = await runKvgate([...base, '--kserve', ...flag]);
    assert.equal(r.code, 1, `${flag[0]}: ${r.stdout.slice(0, 200)}`);
    assert.match(r.stderr, new RegExp(`^kvgate: ${flag[0]} applies without --kserve only: with --kserve, KServe creates the vLLM workload`, 'm'));
  }
  // --no-network-policies and --replicas still apply to the KServe variant.
  const ok = await runKvgate([...base, '--kserve', '--replicas', '2', '--no-network-policies']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /replicas: 2/);
});

test('render --prometheus-url needs --autoscaler keda (the HPA reads the Prometheus adapter, not this URL)', async () => {
  const hpa = await runKvgate([...base, '--prometheus-url', 'http://prom:9090']);
  assert.equal(hpa.code, 1);
  assert.match(hpa.stderr, /^kvgate: --prometheus-url applies with --autoscaler keda only \(the KEDA scaler queries it\); with --autoscaler hpa it would be ignored$/m);
  const keda = await runKvgate([...base, '--autoscaler', 'keda', '--prometheus-url', 'http://prom.monitoring:9090']);
  assert.equal(keda.code, 0, keda.stderr);
  assert.match(keda.stdout, /serverAddress: http:\/\/prom\.monitoring:9090/);
});

test('render --name must start with a letter: the Services named after it (NAME-epp, NAME-vllm) must be DNS-1035 labels, which the API server checks', async () => {
  const digit = await runKvgate(['render', '--name', '1qwen', '--namespace', 'ns', '--model', 'm', '-o', '-']);
  assert.equal(digit.code, 1, digit.stdout.slice(0, 200));
  assert.match(digit.stderr, /^kvgate: --name "1qwen" must be a DNS-1035 label, as Kubernetes requires of the Services named after it \(lower-case letters, digits, '-', starting with a letter; ≤ 50 characters\)$/m);
  // Every Service a good name renders is a DNS-1035 label (the rule the API server applies).
  const ok = await runKvgate(['render', '--name', 'q1', '--namespace', '1ns', '--model', 'm', '-o', '-']);
  assert.equal(ok.code, 0, ok.stderr);
  const services = parseAllDocuments(ok.stdout).map((d) => d.toJS()).filter((o) => o?.kind === 'Service');
  assert.ok(services.length >= 2);
  for (const s of services) assert.match(s.metadata.name, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/, s.metadata.name);
});

test('render --model-server-image is checked as --image is: an empty or spaced value rendered image: "" into the vLLM Deployment', async () => {
  for (const v of ['', 'bad image']) {
    const r = await runKvgate([...base, '--model-server-image', v]);
    assert.equal(r.code, 1, r.stdout.slice(0, 200));
    assert.match(r.stderr, new RegExp(`^kvgate: --model-server-image "${v}" is not an image reference \\(`, 'm'));
  }
  const ok = await runKvgate([...base, '--model-server-image', 'vllm/vllm-openai:v0.11.0']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /image: vllm\/vllm-openai:v0\.11\.0/);
});

test('render --replicas stops where the HPA maxReplicas (twice it) would overflow Kubernetes int32', async () => {
  const over = await runKvgate([...base, '--replicas', String(2 ** 30)]);
  assert.equal(over.code, 1, over.stdout.slice(0, 200));
  assert.match(over.stderr, /--replicas must be at most 1073741823 replicas, so the HPA's maxReplicas, twice it, fits Kubernetes' int32 \(got "1073741824"\)/);
  const most = await runKvgate([...base, '--replicas', String(2 ** 30 - 1)]);
  assert.equal(most.code, 0, most.stderr);
  assert.match(most.stdout, /maxReplicas: 2147483646/);
});

test('render -o "" (an unset variable) is an error naming --output, not a render into the working directory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  try {
    const r = await runKvgate(['render', '--name', 'a', '--namespace', 'b', '--model', 'm', '-o', ''], { cwd: dir });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^kvgate: --output is empty: give a directory \(created when absent\) or - for stdout$/m);
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render --config-file errors name the flag, as serve and epp do (was "kvgate: /x: cannot read: EISDIR")', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  try {
    const isDir = await runKvgate([...base, '--config-file', dir]);
    assert.equal(isDir.code, 1);
    assert.match(isDir.stderr, new RegExp(`^kvgate: --config-file: cannot read ${dir}: it is a directory$`, 'm'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: nope-scorer\n');
    const unknown = await runKvgate([...base, '--config-file', bad]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`^kvgate: --config-file: ${bad}: plugins\\[0\\]\\.type: unknown plugin type "nope-scorer"`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render --kserve: --gateway-name and --gateway-namespace longer than 63 characters (a DNS-1123 label\'s limit) are refused, naming the flag', async () => {
  const long = 'g'.repeat(64);
  for (const flag of ['--gateway-name', '--gateway-namespace']) {
    const r = await runKvgate([...base, '--kserve', flag, long]);
    assert.equal(r.code, 1, `${flag}: ${r.stdout.slice(0, 200)}`);
    assert.match(r.stderr, new RegExp(`^kvgate: ${flag} "${long}" must be a DNS-1123 label \\(lower-case letters, digits, '-'; ≤ 63 characters\\)$`, 'm'));
    const ok = await runKvgate([...base, '--kserve', flag, long.slice(1)]);
    assert.equal(ok.code, 0, ok.stderr);
  }
});

test('render --preset with --config-file is an error, as in serve, epp and up (the preset was dropped without a word)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  try {
    const file = join(dir, 'epp.yaml');
    writeFileSync(file, 'apiVersion: inference.networking.x-k8s.io/v1alpha1\nkind: EndpointPickerConfig\nplugins:\n- type: prefix-cache-scorer\n');
    const both = await runKvgate([...base, '--preset', 'kvgate', '--config-file', file]);
    assert.equal(both.code, 1, both.stdout.slice(0, 200));
    assert.match(both.stderr, /^kvgate: give --preset or --config-file, not both$/m);
    const file1 = await runKvgate([...base, '--config-file', file]);
    assert.equal(file1.code, 0, file1.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render --image / --model-server-image follow the image reference grammar (distribution/reference): an upper-case repository, an empty tag or two tags would never pull', async () => {
  for (const flag of ['--image', '--model-server-image']) {
    for (const v of ['Registry/KVGate:1', 'kvgate:', 'kvgate:0.1.0:x', 'vllm/']) {
      const r = await runKvgate([...base, flag, v]);
      assert.equal(r.code, 1, `${flag} ${v}: ${r.stdout.slice(0, 200)}`);
      assert.match(r.stderr, new RegExp(`^kvgate: ${flag} "${v.replace(/\./g, '\\.')}" is not an image reference \\(\\[REGISTRY\\[:PORT\\]/\\]REPOSITORY\\[:TAG\\]\\[@DIGEST\\], the repository in lower case\\)$`, 'm'), `${flag} ${v}`);
    }
    for (const v of ['REGISTRY/kvgate:0.1.0', 'localhost:5000/team/vllm:v0.11.0', `ghcr.io/org/img:v1@sha256:${'0'.repeat(64)}`]) {
      const r = await runKvgate([...base, flag, v]);
      assert.equal(r.code, 0, `${flag} ${v}: ${r.stderr}`);
    }
  }
});

test('render -o DIR/ (a trailing slash, as shells complete it) lists the files under DIR/, not DIR//', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  try {
    const r = await runKvgate(['render', '--name', 'a', '--namespace', 'b', '--model', 'm', '-o', `${dir}/out/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^wrote 13 files to ${dir}/out/:$`, 'm'));
    assert.doesNotMatch(r.stdout, /\/\/:/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
