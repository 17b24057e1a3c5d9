// The rendered autoscaler scales the model servers on engine queue + gateway queue per replica.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { runKvgate } from '../helpers/cli.js';
import { EXTERNAL_METRIC, autoscalingManifests, poolWaitingQuery, prometheusAdapterRule } from '../../src/deploy/autoscaling.js';

// keda.sh/v1alpha1 ScaledObject, the fields KEDA's CRD requires and the Prometheus scaler reads.
const ScaledObject = z.object({
  apiVersion: z.literal('keda.sh/v1alpha1'),
  kind: z.literal('ScaledObject'),
  metadata: z.object({ name: z.string(), namespace: z.string() }).passthrough(),
  spec: z.object({
    scaleTargetRef: z.object({ name: z.string() }).passthrough(),
    minReplicaCount: z.number().int().min(0),
    maxReplicaCount: z.number().int().min(1),
    advanced: z.unknown().optional(),
    triggers: z.array(z.object({ type: z.literal('prometheus'), metricType: z.enum(['AverageValue', 'Value', 'Utilization']), metadata: z.object({ serverAddress: z.string().url(), query: z.string().min(1), threshold: z.string().regex(/^\d+(\.\d+)?$/) }).strict() }).strict()).min(1),
  }).strict(),
});

test('the query sums every engine queue of the pool and the gateway queue in front of it', () => {
  const q = poolWaitingQuery('qwen', 'llm');
  assert.match(q, /sum\(vllm:num_requests_waiting\{namespace="llm",pod=~"qwen-\[a-z0-9\]\+-\[a-z0-9\]\+"\}\)/);
  assert.match(q, /sum\(inference_extension_flow_control_queue_size\{namespace="llm",inference_pool="qwen"\}\)/);
  assert.match(q, /or vector\(0\)\) \+ \(/, 'either side missing (no EPP scraped yet) still yields a number');
});

test('render: an HPA on the external metric, averaged per replica, plus the adapter rule that serves it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-scale-'));
  const r = await runKvgate(['render', '--name', 'qwen', '--namespace', 'llm', '--model', 'Qwen/Qwen2.5-3B-Instruct', '--replicas', '2', '-o', dir]);
  assert.equal(r.code, 0, r.stderr);
  const [hpa] = parseAllDocuments(readFileSync(join(dir, 'autoscaling.yaml'), 'utf8')).map((d) => d.toJS());
  new HorizontalPodAutoscaler(hpa).validate();
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'qwen' });
  assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [2, 4]);
  assert.deepEqual(hpa.spec.metrics, [{ type: 'External', external: { metric: { name: EXTERNAL_METRIC, selector: { matchLabels: { inference_pool: 'qwen' } } }, target: { type: 'AverageValue', averageValue: '5' } } }]);
  assert.ok(!readFileSync(join(dir, 'model-server.yaml'), 'utf8').includes('HorizontalPodAutoscaler'), 'one autoscaler only');
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  assert.ok(kustomization.resources.includes('autoscaling.yaml'));
  assert.ok(!kustomization.resources.includes('prometheus-adapter-rule.yaml'), "the adapter rule is the adapter's configuration, not a resource");
  const rule = parse(readFileSync(join(dir, 'prometheus-adapter-rule.yaml'), 'utf8')) as { rules: { external: { name: { as: string }; metricsQuery: string }[] } };
  assert.equal(rule.rules.external[0].name.as, EXTERNAL_METRIC);
  assert.ok(rule.rules.external[0].metricsQuery.includes(poolWaitingQuery('qwen', 'llm')));
  assert.equal(prometheusAdapterRule('qwen', 'llm'), readFileSync(join(dir, 'prometheus-adapter-rule.yaml'), 'utf8'));
});

test('render --autoscaler keda: a ScaledObject with the Prometheus scaler on the same query, and no HPA of ours', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-keda-'));
  const r = await runKvgate(['render', '--name', 'qwen', '--namespace', 'llm', '--model', 'm', '--autoscaler', 'keda', '--prometheus-url', 'http://prom.monitoring:9090', '-o', dir]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(readFileSync(join(dir, 'autoscaling.yaml'), 'utf8')).map((d) => d.toJS());
  assert.equal(docs.length, 1);
  const so = ScaledObject.parse(docs[0]);
  assert.equal(so.spec.scaleTargetRef.name, 'qwen');
  assert.deepEqual(so.spec.triggers[0].metadata, { serverAddress: 'http://prom.monitoring:9090', query: poolWaitingQuery('qwen', 'llm'), threshold: '5' });
  assert.equal(so.spec.triggers[0].metricType, 'AverageValue');
  assert.ok(!readdirSync(dir).includes('prometheus-adapter-rule.yaml'));
  assert.ok(readdirSync(dir).every((f) => !readFileSync(join(dir, f), 'utf8').includes('kind: HorizontalPodAutoscaler')));
});

test('--autoscaler none and --kserve render no autoscaler', async () => {
  assert.deepEqual(autoscalingManifests({ name: 'a', namespace: 'b', minReplicas: 1, maxReplicas: 2, kind: 'none' }), []);
  for (const extra of [['--autoscaler', 'none'], ['--kserve']]) {
    const dir = mkdtempSync(join(tmpdir(), 'kvgate-noscale-'));
    const r = await runKvgate(['render', '--name', 'qwen', '--namespace', 'llm', '--model', 'm', ...extra, '-o', dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!readdirSync(dir).includes('autoscaling.yaml'), extra.join(' '));
  }
  const bad = await runKvgate(['render', '--name', 'qwen', '--namespace', 'llm', '--model', 'm', '--autoscaler', 'vpa']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--autoscaler/);
});
