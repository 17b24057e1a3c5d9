import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service, ServiceAccount, ConfigMap } from 'kubernetes-models/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Gateway, HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { EnvoyFilter } from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import { runKvgate } from '../helpers/cli.js';
import { loadConfig } from '../../src/router/index.js';
import { renderManifests } from '../../src/deploy/render.js';

// Schemas for the CRDs the model packages lack, from the fields in the reference (GIE v1, KServe, prometheus-operator).
const InferencePool = z.object({
  apiVersion: z.literal('inference.networking.k8s.io/v1'),
  kind: z.literal('InferencePool'),
  metadata: z.object({ name: z.string(), namespace: z.string() }).passthrough(),
  spec: z.object({
    selector: z.object({ matchLabels: z.record(z.string(), z.string()).refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 64) }).strict(),
    targetPorts: z.array(z.object({ number: z.number().int().min(1).max(65535) }).strict()).min(1).max(8),
    endpointPickerRef: z.object({ group: z.string(), kind: z.literal('Service'), name: z.string(), port: z.object({ number: z.number().int() }), failureMode: z.enum(['FailOpen', 'FailClose']) }).strict(),
  }).strict(),
});
const LLMInferenceService = z.object({ apiVersion: z.literal('serving.kserve.io/v1alpha1'), kind: z.literal('LLMInferenceService'), metadata: z.object({ name: z.string() }).passthrough(), spec: z.object({ model: z.object({ uri: z.string().startsWith('hf://') }).passthrough(), replicas: z.number().int() }).passthrough() });
const PodMonitor = z.object({ apiVersion: z.literal('monitoring.coreos.com/v1'), kind: z.literal('PodMonitor'), spec: z.object({ selector: z.object({ matchLabels: z.record(z.string(), z.string()) }), podMetricsEndpoints: z.array(z.object({ port: z.string(), path: z.string() }).passthrough()).min(1) }) }).passthrough();

const MODELS: Record<string, (o: unknown) => { validate(): void }> = {
  'apps/v1/Deployment': (o) => new Deployment(o as never),
  'v1/Service': (o) => new Service(o as never),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as never),
  'v1/ConfigMap': (o) => new ConfigMap(o as never),
  'rbac.authorization.k8s.io/v1/Role': (o) => new Role(o as never),
  'rbac.authorization.k8s.io/v1/RoleBinding': (o) => new RoleBinding(o as never),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as never),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as never),
  'autoscaling/v2/HorizontalPodAutoscaler': (o) => new HorizontalPodAutoscaler(o as never),
  'gateway.networking.k8s.io/v1/Gateway': (o) => new Gateway(o as never),
  'gateway.networking.k8s.io/v1/HTTPRoute': (o) => new HTTPRoute(o as never),
  'networking.istio.io/v1alpha3/EnvoyFilter': (o) => new EnvoyFilter(o as never),
  'networking.istio.io/v1beta1/DestinationRule': (o) => new DestinationRule(o as never),
  'inference.networking.k8s.io/v1/InferencePool': (o) => ({ validate: () => void InferencePool.parse(o) }),
  'serving.kserve.io/v1alpha1/LLMInferenceService': (o) => ({ validate: () => void LLMInferenceService.parse(o) }),
  'monitoring.coreos.com/v1/PodMonitor': (o) => ({ validate: () => void PodMonitor.parse(o) }),
};

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function validateDir(dir: string): string[] {
  const kinds: string[] = [];
  const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as { resources: string[] };
  for (const f of k.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const o = doc.toJS() as { apiVersion: string; kind: string };
      const key = `${o.apiVersion}/${o.kind}`;
      const make = MODELS[key];
      assert.ok(make, `no schema for ${key} in ${f}`);
      make(o).validate();
      kinds.push(o.kind);
    }
  }
  return kinds;
}

test('render writes a kustomize-ready set whose every object validates against its schema', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  const r = await runKvgate(['render', '--name', 'qwen2-3b', '--namespace', 'llm-d-inference-scheduling', '--model', 'Qwen/Qwen2.5-3B-Instruct', '--replicas', '3', '--accelerator', 'tpu-v6e', '-o', dir]);
  assert.equal(r.code, 0, r.stderr);
  const kinds = validateDir(dir);
  for (const k of ['Deployment', 'Service', 'ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'InferencePool', 'Gateway', 'HTTPRoute', 'DestinationRule', 'EnvoyFilter', 'NetworkPolicy', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'PodMonitor']) assert.ok(kinds.includes(k), k);
  assert.equal(kinds.filter((k) => k === 'NetworkPolicy').length, 4, "the seed's four NetworkPolicies");
  // `kubectl kustomize` renders the set where kubectl is installed (it is on this project's machines).
  if (hasKubectl()) {
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    assert.equal((out.match(/^kind: /gm) ?? []).length, kinds.length);
  }
});

test('the seed preset puts prefix-cache-scorer 2.0 and load-aware-scorer 1.0 in the EPP ConfigMap', () => {
  const files = renderManifests({ name: 'qwen', namespace: 'ns', model: 'm', replicas: 3, accelerator: 'tpu-v6e', eppConfig: readFileSync(join(process.cwd(), 'presets/seed.yaml'), 'utf8'), eppImage: 'kvgate:0.1.0', kserve: false, gatewayClassName: 'istio' });
  const cm = files.get('epp-config.yaml')![0] as unknown as { data: Record<string, string> };
  const cfg = loadConfig({ text: cm.data['epp.yaml'] });
  assert.deepEqual(cfg.schedulingProfiles[0].plugins.slice(0, 2), [
    { pluginRef: 'prefix-cache-scorer', weight: 2 },
    { pluginRef: 'load-aware-scorer', weight: 1 },
  ]);
  const md = files.get('model-server.yaml')![0] as unknown as { spec: { replicas: number; template: { spec: { containers: { args: string[] }[] } } } };
  assert.equal(md.spec.replicas, 3);
  assert.ok(md.spec.template.spec.containers[0].args.includes('--enable-prefix-caching'));
  assert.ok(md.spec.template.spec.containers[0].args.includes('--kv-events-config'));
});

test('--kserve renders an LLMInferenceService, the weights ConfigMap and the scheduler patch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  const r = await runKvgate(['render', '--name', 'qwen2-3b-pattern3', '--namespace', 'llm', '--model', 'Qwen/Qwen2.5-3B-Instruct', '--kserve', '--preset', 'gie-default', '-o', dir]);
  assert.equal(r.code, 0, r.stderr);
  const kinds = validateDir(dir);
  assert.ok(kinds.includes('LLMInferenceService') && kinds.includes('ConfigMap'));
  assert.ok(!kinds.includes('InferencePool'), 'KServe owns the pool');
  const patch = JSON.parse(readFileSync(join(dir, 'kserve-scheduler-patch.json'), 'utf8'));
  assert.equal(patch[2].value, '--config-file=/kvgate-config/epp.yaml');
  assert.match(r.stdout, /kubectl patch deployment qwen2-3b-pattern3-kserve-router-scheduler/);
  if (hasKubectl()) execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
});

test('render: bad names, accelerators and configs are named; -o - streams YAML', async () => {
  const bad = await runKvgate(['render', '--name', 'Bad_Name', '--namespace', 'ns', '--model', 'm', '-o', '-']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--name "Bad_Name" must be a DNS-1123 label/);
  const acc = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '--accelerator', 'tpu-v9']);
  assert.equal(acc.code, 1);
  assert.match(acc.stderr, /--accelerator/);
  const cfg = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '--config-file', '/nonexistent.yaml']);
  assert.equal(cfg.code, 1);
  assert.match(cfg.stderr, /nonexistent\.yaml: cannot read/);
  const stream = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '-o', '-']);
  assert.equal(stream.code, 0);
  assert.ok(parseAllDocuments(stream.stdout).length >= 15);
});
