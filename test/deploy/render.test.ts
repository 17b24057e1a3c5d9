import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Namespace, Service, ServiceAccount, ConfigMap } from 'kubernetes-models/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Gateway, HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1';
import { EnvoyFilter } from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import { DestinationRule } from '@kubernetes-models/istio/networking.istio.io/v1beta1';
import { PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1beta1';
import { runKvgate, repoRoot } from '../helpers/cli.js';
import { loadConfig } from '../../src/router/index.js';
import { renderManifests } from '../../src/deploy/render.js';

// Schemas for the CRDs the model packages lack, from the fields in the reference (GIE v1, KServe, prometheus-operator).
const InferencePool = z.object({
  apiVersion: z.literal('inference.networking.k8s.io/v1'),
  kind: z.literal('InferencePool'),
  metadata: z.object({ name: z.string(), namespace: z.string() }).passthrough(),
  spec: z
    .object({
      selector: z.object({ matchLabels: z.record(z.string(), z.string()).refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 64) }).strict(),
      targetPorts: z.array(z.object({ number: z.number().int().min(1).max(65535) }).strict()).min(1).max(8),
      endpointPickerRef: z.object({ group: z.string(), kind: z.literal('Service'), name: z.string(), port: z.object({ number: z.number().int() }), failureMode: z.enum(['FailOpen', 'FailClose']) }).strict(),
    })
    .strict(),
});
const Container = z.object({ name: z.string(), image: z.string().optional(), args: z.array(z.string()).optional() }).passthrough();
const LLMInferenceService = z.object({
  apiVersion: z.literal('serving.kserve.io/v1alpha1'),
  kind: z.literal('LLMInferenceService'),
  metadata: z.object({ name: z.string(), namespace: z.string() }).passthrough(),
  spec: z
    .object({
      model: z.object({ uri: z.string().startsWith('hf://'), name: z.string() }).strict(),
      replicas: z.number().int(),
      router: z.object({ gateway: z.object({}), route: z.object({}), scheduler: z.object({ template: z.object({ containers: z.array(Container).min(1), volumes: z.array(z.object({ name: z.string() }).passthrough()) }).strict() }).strict() }).strict(),
      template: z.object({ containers: z.array(Container).min(1), nodeSelector: z.record(z.string(), z.string()) }).strict(),
    })
    .strict(),
});
const Monitor = (kind: 'PodMonitor' | 'ServiceMonitor') =>
  z
    .object({
      apiVersion: z.literal('monitoring.coreos.com/v1'),
      kind: z.literal(kind),
      metadata: z.object({ name: z.string(), namespace: z.string() }).passthrough(),
      spec: z.object({ selector: z.object({ matchLabels: z.record(z.string(), z.string()) }).strict() }).passthrough(),
    })
    .passthrough();

const MODELS: Record<string, (o: unknown) => { validate(): void }> = {
  'v1/Namespace': (o) => new Namespace(o as never),
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
  'security.istio.io/v1beta1/PeerAuthentication': (o) => new PeerAuthentication(o as never),
  'inference.networking.k8s.io/v1/InferencePool': (o) => ({ validate: () => void InferencePool.parse(o) }),
  'serving.kserve.io/v1alpha1/LLMInferenceService': (o) => ({ validate: () => void LLMInferenceService.parse(o) }),
  'monitoring.coreos.com/v1/PodMonitor': (o) => ({ validate: () => void Monitor('PodMonitor').parse(o) }),
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => ({ validate: () => void Monitor('ServiceMonitor').parse(o) }),
};

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string>; rules?: any[] }; // eslint-disable-line @typescript-eslint/no-explicit-any

function hasKubectl(): boolean {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Every object of the kustomization, validated against its schema. */
function loadDir(dir: string): Obj[] {
  const objs: Obj[] = [];
  const k = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0].toJS() as { resources: string[]; namespace?: string };
  assert.equal(k.namespace, undefined, 'objects carry their own namespaces');
  for (const f of k.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) {
      const o = doc.toJS() as Obj;
      const make = MODELS[`${o.apiVersion}/${o.kind}`];
      assert.ok(make, `no schema for ${o.apiVersion}/${o.kind} in ${f}`);
      make(o).validate();
      objs.push(o);
    }
  }
  if (hasKubectl()) {
    const out = execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    assert.equal((out.match(/^kind: /gm) ?? []).length, objs.length, 'kubectl kustomize renders every object');
  }
  return objs;
}

/**
 * Renders a variant through the CLI and compares every file with test/deploy/golden/VARIANT/
 * (UPDATE_GOLDEN=1 rewrites them after a deliberate change).
 */
async function renderVariant(variant: string, args: string[]): Promise<{ dir: string; objs: Obj[]; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), `kvgate-render-${variant}-`));
  const r = await runKvgate(['render', ...args, '-o', dir]);
  assert.equal(r.code, 0, r.stderr);
  const golden = join(repoRoot, 'test', 'deploy', 'golden', variant);
  const produced = readdirSync(dir).sort();
  if (process.env.UPDATE_GOLDEN) {
    mkdirSync(golden, { recursive: true });
    for (const f of readdirSync(golden)) if (!produced.includes(f)) throw new Error(`remove stale golden file ${golden}/${f}`);
    for (const f of produced) writeFileSync(join(golden, f), readFileSync(join(dir, f)));
  }
  assert.ok(existsSync(golden), `missing golden files: UPDATE_GOLDEN=1 npm test -- render`);
  assert.deepEqual(produced, readdirSync(golden).sort(), 'the same files as the golden set');
  for (const f of produced) assert.equal(readFileSync(join(dir, f), 'utf8'), readFileSync(join(golden, f), 'utf8'), `${variant}/${f} differs from the golden file`);
  return { dir, objs: loadDir(dir), stdout: r.stdout };
}

const find = (objs: Obj[], kind: string, name?: string) => {
  const o = objs.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `${kind} ${name ?? ''} rendered`);
  return o;
};

test('render (TPU, the seed\'s shape): namespace with sidecar injection, least-privilege RBAC, EPP probes on the plain health port, pool, Istio, PDB, HPA, monitors, four NetworkPolicies', async () => {
  const { objs } = await renderVariant('tpu', ['--name', 'qwen2-3b', '--namespace', 'rhaii-inference', '--model', 'Qwen/Qwen2.5-3B-Instruct', '--replicas', '3']);
  assert.deepEqual(find(objs, 'Namespace').metadata.labels?.['istio-injection'], 'enabled');
  const role = find(objs, 'Role');
  assert.deepEqual(
    role.rules!.map((r) => `${r.apiGroups.join('|')}:${r.resources.join('|')}:${r.verbs.join('|')}`),
    [':pods:get|list|watch', 'inference.networking.k8s.io|inference.networking.x-k8s.io:inferencepools:get|list|watch', 'inference.networking.x-k8s.io|llm-d.ai:inferenceobjectives:get|list|watch'],
  );
  const epp = find(objs, 'Deployment', 'qwen2-3b-epp');
  const pod = epp.spec.template;
  const c = pod.spec.containers[0];
  assert.equal(c.image, 'kvgate:0.1.0');
  assert.equal(epp.spec.strategy.type, 'Recreate');
  assert.equal(c.readinessProbe.grpc.port, 9003);
  assert.equal(c.livenessProbe.grpc.service, 'liveness');
  assert.match(pod.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'], /^9003,/, 'the probe port bypasses the sidecar, so probes work under STRICT mTLS');
  assert.equal(c.securityContext.runAsNonRoot, true);
  assert.deepEqual(c.args.slice(0, 5), ['epp', '--pool-name', 'qwen2-3b', '--pool-namespace', 'rhaii-inference']);
  assert.equal(find(objs, 'InferencePool').spec.endpointPickerRef.name, 'qwen2-3b-epp');
  assert.equal(find(objs, 'DestinationRule').spec.trafficPolicy.tls.mode, 'ISTIO_MUTUAL');
  assert.equal(find(objs, 'EnvoyFilter').spec.configPatches[0].patch.value.typed_config.processing_mode.request_body_mode, 'FULL_DUPLEX_STREAMED');
  const vllm = find(objs, 'Deployment', 'qwen2-3b').spec.template;
  assert.ok(vllm.spec.containers[0].args.includes('--enable-prefix-caching'));
  assert.ok(vllm.spec.containers[0].args.includes('--enable-prompt-tokens-details'));
  assert.equal(vllm.metadata.annotations['kvgate.io/kv-events-port'], '5557');
  assert.equal(find(objs, 'PodDisruptionBudget').spec.maxUnavailable, 1);
  assert.equal(find(objs, 'HorizontalPodAutoscaler').spec.minReplicas, 3);
  find(objs, 'PodMonitor');
  find(objs, 'ServiceMonitor');
  assert.equal(objs.filter((o) => o.kind === 'NetworkPolicy').length, 4, "the seed's four NetworkPolicies");
  assert.ok(!objs.some((o) => o.kind === 'PeerAuthentication'), 'STRICT only when asked');
  // The ConfigMap carries the seed preset: prefix 2.0, load 1.0.
  const cfg = loadConfig({ text: find(objs, 'ConfigMap').data!['epp.yaml'] });
  assert.deepEqual(cfg.schedulingProfiles[0].plugins.slice(0, 2), [
    { pluginRef: 'prefix-cache-scorer', weight: 2 },
    { pluginRef: 'load-aware-scorer', weight: 1 },
  ]);
});

test('render (H100, --strict-mtls, --image, --no-network-policies): PeerAuthentication STRICT and the given image', async () => {
  const { objs } = await renderVariant('gpu-strict', ['--name', 'llama', '--namespace', 'serving', '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--accelerator', 'nvidia-h100', '--replicas', '2', '--preset', 'kvgate', '--strict-mtls', '--image', 'registry.example.com/kvgate:0.1.0', '--no-network-policies']);
  assert.equal(find(objs, 'PeerAuthentication').spec.mtls.mode, 'STRICT');
  assert.equal(find(objs, 'Deployment', 'llama-epp').spec.template.spec.containers[0].image, 'registry.example.com/kvgate:0.1.0');
  assert.equal(find(objs, 'Deployment', 'llama').spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'], '1');
  assert.ok(!objs.some((o) => o.kind === 'NetworkPolicy'));
});

test('render --kserve: LLMInferenceService with kvgate as the scheduler, the three EnvoyFilters in the gateway namespace, the health/models route', async () => {
  const { objs, stdout } = await renderVariant('kserve', ['--name', 'qwen2-3b-pattern3', '--namespace', 'llm-d-inference-scheduling', '--model', 'Qwen/Qwen2.5-3B-Instruct', '--kserve', '--image', 'kvgate:0.1.0']);
  const isvc = find(objs, 'LLMInferenceService');
  const sched = isvc.spec.router.scheduler.template.containers[0];
  assert.equal(sched.name, 'main');
  assert.equal(sched.image, 'kvgate:0.1.0');
  assert.deepEqual(sched.args.slice(0, 7), ['epp', '--pool-name', 'qwen2-3b-pattern3-inference-pool', '--pool-namespace', 'llm-d-inference-scheduling', '--pool-group', 'inference.networking.x-k8s.io']);
  assert.ok(isvc.spec.template.containers[0].args.includes('--enable-prefix-caching'));
  const filters = objs.filter((o) => o.kind === 'EnvoyFilter');
  assert.deepEqual(filters.map((f) => f.metadata.name), ['qwen2-3b-pattern3-epp-mtls', 'qwen2-3b-pattern3-ext-proc', 'qwen2-3b-pattern3-ext-proc-body-forwarding']);
  assert.ok(filters.every((f) => f.metadata.namespace === 'opendatahub' && f.spec.workloadSelector.labels['gateway.networking.k8s.io/gateway-name'] === 'inference-gateway'));
  assert.equal(filters[1].spec.configPatches[0].patch.value.typed_config.grpc_service.envoy_grpc.cluster_name, 'outbound|9002||qwen2-3b-pattern3-epp-service.llm-d-inference-scheduling.svc.cluster.local');
  assert.ok(!objs.some((o) => o.kind === 'InferencePool' || o.kind === 'Role'), 'KServe owns the pool and the scheduler RBAC');
  assert.equal(find(objs, 'HTTPRoute').spec.rules.length, 2);
  assert.equal(objs.filter((o) => o.kind === 'NetworkPolicy')[0].spec.podSelector.matchLabels['app.kubernetes.io/component'], 'llminferenceservice-router-scheduler');
  assert.match(stdout, /the EnvoyFilters go to namespace opendatahub/);
});

test('render: bad names, images, accelerators and configs are named; -o - streams YAML', async () => {
  const bad = await runKvgate(['render', '--name', 'Bad_Name', '--namespace', 'ns', '--model', 'm', '-o', '-']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--name "Bad_Name" must be a DNS-1035 label/);
  const img = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '--image', 'bad image', '-o', '-']);
  assert.equal(img.code, 1);
  assert.match(img.stderr, /--image "bad image" is not an image reference/);
  const acc = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '--accelerator', 'tpu-v9']);
  assert.equal(acc.code, 1);
  assert.match(acc.stderr, /--accelerator/);
  const cfg = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '--config-file', '/nonexistent.yaml']);
  assert.equal(cfg.code, 1);
  assert.match(cfg.stderr, /^kvgate: --config-file: cannot read \/nonexistent\.yaml: no such file$/m);
  const stream = await runKvgate(['render', '--name', 'a', '--namespace', 'ns', '--model', 'm', '-o', '-']);
  assert.equal(stream.code, 0);
  assert.equal(parseAllDocuments(stream.stdout).length, 22);
});

test('render --monitoring adds monitoring.yaml and leaves the EPP to its PodMonitor (one scrape, not two)', () => {
  const base = { name: 'qwen', namespace: 'ns', model: 'm', replicas: 2, accelerator: 'tpu-v6e' as const, eppConfig: 'x', eppImage: 'kvgate:0.1.0', kserve: false, gatewayClassName: 'istio' };
  const plain = renderManifests(base);
  const withMonitoring = renderManifests({ ...base, monitoring: true });
  assert.ok(!plain.has('monitoring.yaml'));
  assert.deepEqual(plain.get('scrape-monitors.yaml')!.map((o) => o.kind), ['PodMonitor', 'ServiceMonitor']);
  assert.deepEqual(withMonitoring.get('monitoring.yaml')!.map((o) => o.kind), ['ConfigMap', 'PrometheusRule', 'PodMonitor']);
  assert.deepEqual(withMonitoring.get('scrape-monitors.yaml')!.map((o) => `${o.kind}/${o.metadata.name}`), ['PodMonitor/qwen-vllm'], 'the vLLM PodMonitor stays; the EPP is scraped by monitoring.yaml');
});

test('render --kserve --monitoring: the EPP PodMonitor, alerts and dashboard name the KServe scheduler pods and the pool the EPP reports', () => {
  const base = { name: 'qwen', namespace: 'ns', model: 'm', replicas: 2, accelerator: 'tpu-v6e' as const, eppConfig: 'x', eppImage: 'kvgate:0.1.0', gatewayClassName: 'istio', monitoring: true };
  const kserve = renderManifests({ ...base, kserve: true });
  const isvc = kserve.get('kserve.yaml')!.find((o) => o.kind === 'LLMInferenceService') as unknown as { spec: { router: { scheduler: { template: { containers: { args: string[] }[] } } } } };
  const args = isvc.spec.router.scheduler.template.containers[0].args;
  const poolName = args[args.indexOf('--pool-name') + 1];
  const monitoring = kserve.get('monitoring.yaml')!;
  const podMonitor = monitoring.find((o) => o.kind === 'PodMonitor') as unknown as { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Record<string, unknown>[] } };
  // KServe labels its scheduler pods itself; app: qwen-epp matches nothing there.
  const networkPolicy = kserve.get('networkpolicies.yaml')!.find((o) => o.metadata.name.startsWith('allow-gateway-to-epp')) as unknown as { spec: { podSelector: { matchLabels: Record<string, string> } } };
  assert.deepEqual(podMonitor.spec.selector.matchLabels, networkPolicy.spec.podSelector.matchLabels);
  assert.equal(podMonitor.spec.podMetricsEndpoints[0].targetPort, 9090, 'by number: the scheduler container declares no port named metrics');
  assert.equal(podMonitor.spec.podMetricsEndpoints[0].port, undefined);
  const rules = JSON.stringify(monitoring.find((o) => o.kind === 'PrometheusRule'));
  assert.ok(rules.includes(`inference_pool_ready_pods{name=\\"${poolName}\\"}`), `alerts query the pool the EPP reports (${poolName})`);
  assert.ok(!rules.includes('name=\\"qwen\\"'));
  const dashboard = JSON.parse((monitoring.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data['kvgate-qwen.json']);
  assert.equal(dashboard.templating.list.find((v: { name: string }) => v.name === 'pool').current.value, poolName);
  // The plain render keeps its own EPP labels, named port and pool name.
  const plain = renderManifests({ ...base, kserve: false }).get('monitoring.yaml')!;
  const plainMonitor = plain.find((o) => o.kind === 'PodMonitor') as unknown as { spec: { selector: { matchLabels: Record<string, string> }; podMetricsEndpoints: Record<string, unknown>[] } };
  assert.deepEqual(plainMonitor.spec.selector.matchLabels, { app: 'qwen-epp' });
  assert.equal(plainMonitor.spec.podMetricsEndpoints[0].port, 'metrics');
  assert.ok(JSON.stringify(plain).includes('inference_pool_ready_pods{name=\\"qwen\\"}'));
});

test('render: a --prometheus-url that is not an http(s) URL and an empty or malformed --gateway-class are named', () => {
  const base = { name: 'qwen', namespace: 'ns', model: 'm', replicas: 1, accelerator: 'tpu-v6e' as const, eppConfig: 'x', eppImage: 'kvgate:0.1.0', kserve: false, gatewayClassName: 'istio' };
  for (const url of ['notaurl', 'prometheus:9090', 'ftp://prom', '']) {
    assert.throws(() => renderManifests({ ...base, autoscaler: 'keda', prometheusUrl: url }), (e: Error) => e.message === `--prometheus-url "${url}" must be an http:// or https:// URL`, url);
  }
  for (const cls of ['', 'Istio', 'a b', '-x']) {
    assert.throws(() => renderManifests({ ...base, gatewayClassName: cls }), (e: Error) => e.message.startsWith(`--gateway-class "${cls}" must be a DNS-1123 subdomain`), cls);
  }
  assert.ok(renderManifests({ ...base, gatewayClassName: 'gke-l7-regional-external-managed', autoscaler: 'keda', prometheusUrl: 'https://prom.example:9090/x' }).size > 0);
  assert.ok(renderManifests({ ...base, gatewayClassName: 'istio.io' }).size > 0);
});
