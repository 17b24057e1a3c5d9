import { test } from 'node:test';
import assert from 'node:assert/strict';
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
