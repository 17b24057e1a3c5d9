import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import OpenAI from 'openai';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { EnvoyLikeClient, healthCheck, routeCompletion } from '../extproc/client.js';
import { FakeKubeApi, OBJECTIVES, PODS, POOLS_V1, objective, pod, poolV1 } from './kubernetes-fake-api.js';

const NS = 'rhaii-inference';
const NAME = 'qwen2-3b';
const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

/** The `kvgate epp` arguments of the rendered Deployment, with its ConfigMap written to a file. */
async function renderedEppArgs(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-e2e-render-'));
  const r = await runKvgate(['render', '--name', NAME, '--namespace', NS, '--model', MODEL, '-o', dir]);
  assert.equal(r.code, 0, r.stderr);
  const deployment = parseAllDocuments(readFileSync(join(dir, 'epp-deployment.yaml'), 'utf8'))[0].toJS() as { spec: { template: { spec: { containers: { args: string[] }[] } } } };
  const cm = parseAllDocuments(readFileSync(join(dir, 'epp-config.yaml'), 'utf8'))[0].toJS() as { data: Record<string, string> };
  const configFile = join(dir, 'epp.yaml');
  writeFileSync(configFile, cm.data['epp.yaml']);
  const args = [...deployment.spec.template.spec.containers[0].args];
  // What the pod gets from its volumes and network namespace, the test gets from temp files and free ports.
  const set = (flag: string, value: string) => {
    const i = args.indexOf(flag);
    assert.ok(i >= 0, `rendered args have ${flag}`);
    args[i + 1] = value;
  };
  set('--config-file', configFile);
  for (const f of ['--grpc-port', '--grpc-health-port', '--metrics-port']) set(f, '0');
  return [...args, '--host', '127.0.0.1'];
}

async function startSim(host: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnKvgate(['sim', '--host', host, '--port', String(port), '--profile', 'instant', '--model', MODEL]);
  const line = await waitForOutput(child, /listening on http:\/\/[\d.]+:(\d+)/, 30_000);
  return { child, port: Number(/:(\d+)$/.exec(line)![1]) };
}

function routeVia(client: EnvoyLikeClient, prompt: string): Promise<string> {
  return routeCompletion(client, MODEL, prompt);
}

test('end to end: rendered EPP + temporary service-account dir + fake API server → kvgate epp → ext_proc client → kvgate sim on the discovered pod', async () => {
  const api = await FakeKubeApi.start({ tokens: ['e2e-sa-token'] });
  const simA = await startSim('127.0.0.1', 0);
  const simB = await startSim('127.0.0.2', simA.port); // a second "pod IP", same target port
  let epp: ChildProcess | undefined;
  let client: EnvoyLikeClient | undefined;
  try {
    api.put(POOLS_V1(NS), poolV1(NAME, { app: NAME }, [simA.port], NS));
    api.put(PODS(NS), pod(`${NAME}-a`, { ns: NS, ip: '127.0.0.1', labels: { app: NAME } }));
    api.put(PODS(NS), pod(`${NAME}-b`, { ns: NS, ip: '127.0.0.2', labels: { app: NAME }, ready: false }));
    // An InferenceObjective the CRD schema would have refused: counted on the EPP's /metrics.
    api.put(OBJECTIVES(NS), { ...objective('urgent', undefined, NAME, NS), spec: { priority: 'urgent', poolRef: { name: NAME } } });
    const sa = api.serviceAccount('e2e-sa-token', NS);
    const home = mkdtempSync(join(tmpdir(), 'kvgate-e2e-home-'));
    epp = spawnKvgate(await renderedEppArgs(), { env: { ...sa.env, HOME: home, KUBECONFIG: '', NAMESPACE: NS } });
    const ready = await waitForOutput(epp, /kvgate epp ready: ext_proc 127\.0\.0\.1:(\d+) \(plaintext\), health (\d+), metrics (\d+)/, 30_000);
    const [, grpcPort, healthPort, metricsPort] = /:(\d+) \(plaintext\), health (\d+), metrics (\d+)/.exec(ready)!.map(Number);
    // Readiness turns SERVING once the pool and its pods are listed (1 = SERVING).
    let status = 0;
    for (const deadline = Date.now() + 30_000; status !== 1 && Date.now() < deadline; ) {
      status = await healthCheck(healthPort, 'readiness').catch(() => 0);
      if (status !== 1) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 1, 'readiness SERVING after discovery');

    client = new EnvoyLikeClient(grpcPort);
    const first = await routeVia(client, 'The capital of France is');
    assert.equal(first, `127.0.0.1:${simA.port}`, 'routed to the only Ready pod');
    // Envoy would now send the request to that address: so does the test, with the official client.
    const openaiA = new OpenAI({ baseURL: `http://${first}/v1`, apiKey: 'unused' });
    const done = await openaiA.completions.create({ model: MODEL, prompt: 'The capital of France is', max_tokens: 4 });
    assert.equal(done.choices.length, 1);
    assert.equal(done.usage?.completion_tokens, 4);

    // The pods change in the cluster; the watch carries it to the picker.
    api.put(PODS(NS), pod(`${NAME}-a`, { ns: NS, ip: '127.0.0.1', labels: { app: NAME }, ready: false }));
    api.put(PODS(NS), pod(`${NAME}-b`, { ns: NS, ip: '127.0.0.2', labels: { app: NAME } }));
    let dest = first;
    for (const deadline = Date.now() + 30_000; dest !== `127.0.0.2:${simA.port}` && Date.now() < deadline; ) {
      dest = await routeVia(client, `Another prompt ${Math.random()}`);
      if (dest !== `127.0.0.2:${simA.port}`) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(dest, `127.0.0.2:${simB.port}`, 'routed to the pod that became Ready');
    const b = await new OpenAI({ baseURL: `http://${dest}/v1`, apiKey: 'unused' }).completions.create({ model: MODEL, prompt: 'Hello', max_tokens: 2 });
    assert.equal(b.usage?.completion_tokens, 2);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    assert.match(metrics, new RegExp(`inference_pool_ready_pods\\{name="${NAME}"\\} 1`));
    // The objective watcher lists on its own schedule: poll until it has.
    const counted = /kvgate_inference_objective_invalid_total\{reason="invalid_priority"\} 1\n/;
    let scraped = metrics;
    for (const deadline = Date.now() + 30_000; !counted.test(scraped) && Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    }
    assert.match(scraped, counted);

    // Everything went to the API server with the mounted service-account token.
    assert.deepEqual([...new Set(api.requests.map((r) => r.auth))], ['token:e2e-sa-token']);
    assert.ok(api.requests.some((r) => r.path === PODS(NS) && r.watch), 'pods were watched');
    const exited = new Promise<number | null>((r) => epp!.on('exit', (code) => r(code)));
    epp.kill('SIGTERM');
    assert.equal(await exited, 0, 'SIGTERM drains and exits 0');
    epp = undefined;
  } finally {
    client?.close();
    epp?.kill('SIGKILL');
    simA.child.kill('SIGTERM');
    simB.child.kill('SIGTERM');
    await api.close();
  }
});
