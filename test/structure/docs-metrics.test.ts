// The docs, alerts and dashboards name only metrics the processes expose: every metric name in
// README.md, docs/*.md, deploy/ and the manifests `kvgate render --monitoring` writes (the
// PrometheusRule, the Grafana dashboard, the autoscaler's queries) is checked against the
// /metrics of a real fleet — one `kvgate sim`, one `kvgate serve` in front of it, one `kvgate epp`
// over it through an InferencePool on a fake Kubernetes API — after a few requests
// (test/helpers/doc-metric-names.ts finds the names and reads the expositions).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { repoRoot, runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { freePortRange } from '../helpers/ports.js';
import { docMetricNames, exposedNames, isExposed, type DocMetric } from '../helpers/doc-metric-names.js';
import { simProcess, stop } from '../faults/processes.js';
import { MODEL, post, waitFor } from '../gateway/helpers.js';
import { FakeKubeApi, PODS, POOLS_V1, pod, poolV1 } from '../datalayer/kubernetes-fake-api.js';
import { EnvoyLikeClient } from '../extproc/client.js';
import { throughEnvoy } from '../helpers/envoy-harness.js';

/** Every file under `dir`, recursively. */
const walk = (dir: string): string[] =>
  readdirSync(dir).sort().flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)]));

const DOCS = ['README.md', ...readdirSync(join(repoRoot, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`), ...walk(join(repoRoot, 'deploy')).map((f) => relative(repoRoot, f))];

/** Tokens in a metric's namespace that are not metrics: each names what it is. */
const NOT_METRICS: Record<string, string> = {
  kvgate_epp: "deploy/envoy/envoy.yaml's Envoy cluster of the picker",
};

/**
 * vLLM-side metric names the docs mention that the sim does not model or export, on purpose; each
 * says why. Keep it short: a name belongs here only when the doc itself says it is not exported.
 */
const NOT_EXPOSED: Record<string, string> = {
  // docs/sim.md's parity table names llm-d-inference-sim's metric and says the sim exports it
  // under vLLM's name, vllm:request_max_num_generation_tokens (checked as any other name).
  'vllm:max_num_generation_tokens': "llm-d-inference-sim's name, documented as not the sim's",
};

/** The environment without variables that would point a process at a real cluster. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['KUBECONFIG', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT', 'NAMESPACE', 'KVGATE_API_KEYS', 'KVGATE_API_KEY', 'KVGATE_UPSTREAM_API_KEY']) delete env[k];
  return env;
}

const scrape = async (url: string) => (await fetch(`${url}/metrics`)).text();
const sampled = (text: string, name: string) => new RegExp(`^${name}[{ ]`, 'm').test(text);

interface Fleet {
  /** Names each process's /metrics lets a query use (doc-metric-names.ts exposedNames). */
  sim: Set<string>;
  serve: Set<string>;
  epp: Set<string>;
  /** Files `kvgate render --monitoring` wrote, by path relative to `renderDir`. */
  rendered: Map<string, string>;
  /** External metrics the rendered Prometheus adapter rule serves (`name.as`). */
  adapter: Set<string>;
}
let fleet: Fleet;
const children: ChildProcess[] = [];
let api: FakeKubeApi | undefined;
let envoy: EnvoyLikeClient | undefined;
let renderDir: string | undefined;

before(async () => {
  // The sim publishes KV events (so serve's KV-event series have samples) and the pre-v1
  // names (--legacy-metrics: docs/sim.md and docs/router.md name them).
  const kvPort = await freePortRange(1);
  const sim = await simProcess(['--legacy-metrics', '--kv-events-endpoint', `tcp://*:${kvPort}`]);
  children.push(sim.child);
  const simPort = Number(new URL(sim.url).port);

  const gw = spawnKvgate(['serve', '--endpoints', sim.url, '--port', '0', '--kv-events-port', String(kvPort), '--no-access-log'], { env: cleanEnv() });
  children.push(gw);
  const serveUrl = /http:\/\/\S+/.exec(await waitForOutput(gw, /kvgate serve listening on http:\/\/\S+/))![0];

  // The EPP finds the sim through an InferencePool: the pool's validity series exist only then.
  api = await FakeKubeApi.start({ tokens: ['t'] });
  api.put(POOLS_V1('ns'), poolV1('pool', { app: 'qwen' }, [simPort]));
  api.put(PODS('ns'), pod('a', { ip: '127.0.0.1' }));
  const epp = spawnKvgate(['epp', '--pool-name', 'pool', '--pool-namespace', 'ns', '--kubeconfig', api.kubeconfig({ token: 't' }), '--host', '127.0.0.1', '--secure-serving=false', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--health-interval', '50ms'], { env: cleanEnv() });
  children.push(epp);
  const ready = await waitForOutput(epp, /kvgate epp ready: ext_proc \S+ .* metrics \d+/);
  const eppUrl = `http://127.0.0.1:${/metrics (\d+)/.exec(ready)![1]}`;
  envoy = new EnvoyLikeClient(Number(/ext_proc \S+:(\d+)/.exec(ready)![1]));

  // The same requests through the gateway and through the EPP (test/helpers/envoy-harness.ts
  // plays Envoy) create the lazily labelled series: two completions sharing a prefix, a streamed
  // chat, and one the sim fails (X-Return-Error) for the error counter.
  const viaEpp = envoy;
  const senders: ((path: string, body: unknown, headers?: Record<string, string>) => Promise<number>)[] = [
    async (path, body, headers) => (await post(serveUrl + path, body, headers)).status,
    async (path, body, headers) => (await throughEnvoy(viaEpp, { path, body: JSON.stringify(body), headers }, () => sim.url)).status,
  ];
  await waitFor(async () => (await fetch(`${serveUrl}/ready`)).status === 200 && (await fetch(`${eppUrl}/ready`)).status === 200);
  const prompt = 'The docs name only metrics that exist. '.repeat(20);
  for (const send of senders) {
    for (const suffix of ['one', 'two']) assert.equal(await send('/v1/completions', { model: MODEL, prompt: prompt + suffix, max_tokens: 4 }), 200);
    assert.equal(await send('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true }), 200);
    assert.equal(await send('/v1/completions', { model: MODEL, prompt: 'fail', max_tokens: 4 }, { 'X-Return-Error': '500' }), 500);
  }
  // KV events arrive asynchronously; the EPP's pool validity once it has listed the pool.
  await waitFor(async () => sampled(await scrape(serveUrl), 'kvgate_kv_index_blocks'));
  await waitFor(async () => sampled(await scrape(eppUrl), 'kvgate_inference_pool_spec_valid'));

  renderDir = mkdtempSync(join(tmpdir(), 'kvgate-docs-metrics-'));
  const r = await runKvgate(['render', '--name', 'llm', '--namespace', 'ns1', '--model', MODEL, '--monitoring', '-o', renderDir]);
  assert.equal(r.code, 0, r.stderr);
  const rendered = new Map(walk(renderDir).map((f) => [relative(renderDir!, f), readFileSync(f, 'utf8')]));
  const adapterRule = parse(rendered.get('prometheus-adapter-rule.yaml') ?? '') as { rules: { external: { name: { as: string } }[] } };

  fleet = {
    sim: exposedNames(await scrape(sim.url)),
    serve: exposedNames(await scrape(serveUrl)),
    epp: exposedNames(await scrape(eppUrl)),
    rendered,
    adapter: new Set(adapterRule.rules.external.map((e) => e.name.as)),
  };
});

after(async () => {
  envoy?.close();
  await Promise.all(children.map(stop));
  await api?.close();
  if (renderDir) rmSync(renderDir, { recursive: true, force: true });
});

/** A process (or config) whose names a mention may resolve to. */
type Source = { what: string; names: ReadonlySet<string> };

/**
 * Why `m` names nothing its sources provide, or undefined when it is fine. vllm:… names must be
 * the sim's; the others one of `sources`' (the gateway and the EPP, or only the EPP where the
 * page is for the rendered deployment, whose one kvgate process is the EPP), and the marked
 * command's when the page marks one (`kvgate_requests_in_flight` (serve)).
 */
function problemOf(m: DocMetric, sources: Source[]): string | undefined {
  if (m.name in NOT_METRICS || m.name in NOT_EXPOSED) return undefined;
  if ((m.candidates?.[0] ?? m.name).startsWith('vllm:')) return isExposed(m, fleet.sim) ? undefined : 'kvgate sim does not expose it';
  const marked = m.command ? sources.filter((s) => s.what === `kvgate ${m.command}`) : sources;
  if (marked.some((s) => isExposed(m, s.names))) return undefined;
  return `not exposed by ${marked.map((s) => s.what).join(' or ') || `kvgate ${m.command} (not scraped here)`}`;
}

function check(pages: [file: string, text: string][], sources: Source[]): { problems: string[]; checked: number } {
  const problems: string[] = [];
  let checked = 0;
  for (const [file, text] of pages) {
    for (const m of docMetricNames(text, file)) {
      checked++;
      const why = problemOf(m, sources);
      if (why) problems.push(`${m.file}:${m.line}: ${m.name}${m.prefix ? '*' : ''}${m.candidates ? ` (as ${m.candidates.join(' / ')})` : ''}: ${why}`);
    }
  }
  return { problems, checked };
}

test('every metric name in README.md, docs/*.md and deploy/ is one the fleet exposes', (t) => {
  const sources = [
    { what: 'kvgate serve', names: fleet.serve },
    { what: 'kvgate epp', names: fleet.epp },
    { what: 'the rendered Prometheus adapter rule', names: fleet.adapter },
  ];
  const { problems, checked } = check(DOCS.map((f) => [f, readFileSync(join(repoRoot, f), 'utf8')]), sources);
  t.diagnostic(`${checked} metric mentions checked`);
  assert.ok(checked > 100, `only ${checked} metric names found: is the scanner still reading the docs?`);
  assert.deepEqual(problems, []);
});

test("every metric the rendered alerts, dashboard and autoscaler query is one the EPP (or the sim) exposes", (t) => {
  // The rendered deployment runs no `kvgate serve`: its queries can only see the EPP's names.
  const sources = [
    { what: 'kvgate epp', names: fleet.epp },
    { what: 'the rendered Prometheus adapter rule', names: fleet.adapter },
  ];
  const { problems, checked } = check([...fleet.rendered].map(([f, text]) => [`kvgate render --monitoring: ${f}`, text]), sources);
  t.diagnostic(`${checked} metric mentions checked`);
  assert.ok(fleet.rendered.has('monitoring.yaml') && fleet.rendered.has('grafana-dashboard.json'), 'render --monitoring wrote the rule and the dashboard');
  assert.ok(checked > 50, `only ${checked} metric names found in the rendered manifests`);
  assert.deepEqual(problems, []);
});

test('the allow-lists name only what the docs still mention', () => {
  const all = DOCS.flatMap((f) => docMetricNames(readFileSync(join(repoRoot, f), 'utf8'), f).map((m) => m.name));
  for (const name of [...Object.keys(NOT_METRICS), ...Object.keys(NOT_EXPOSED)]) assert.ok(all.includes(name), `${name} is no longer mentioned: drop it from the list`);
  // And a name on NOT_EXPOSED that the sim does export was never an exception.
  for (const name of Object.keys(NOT_EXPOSED)) assert.ok(!fleet.sim.has(name) && !fleet.serve.has(name) && !fleet.epp.has(name), `${name} is exposed: drop it from NOT_EXPOSED`);
});

test('the scanner reads names, prefixes, elisions, marks and histogram / counter spellings', () => {
  const page = [
    '`vllm:gpu_prefix_cache_*` and rate(kvgate_x_total[5m]) / KVGATE_API_KEY',
    'src/kvgate_y.ts inference_pool_ready_pods{name="p"}, `…_queue_size`',
    '| `kvgate_z{a}` (serve) | `inference_objective_request_ttft_seconds` / `…_tpot_seconds` |',
  ].join('\n');
  assert.deepEqual(docMetricNames(page, 'p.md').map((m) => [m.line, m.name, m.prefix, m.candidates, m.command]), [
    [1, 'vllm:gpu_prefix_cache_', true, undefined, undefined],
    [1, 'kvgate_x_total', false, undefined, undefined],
    [2, 'inference_pool_ready_pods', false, undefined, undefined],
    [2, '…_queue_size', false, ['inference_pool_ready_queue_size', 'inference_pool_queue_size'], undefined],
    [3, 'kvgate_z', false, undefined, 'serve'],
    [3, 'inference_objective_request_ttft_seconds', false, undefined, undefined],
    [3, '…_tpot_seconds', false, ['inference_objective_request_ttft_tpot_seconds', 'inference_objective_request_tpot_seconds', 'inference_objective_tpot_seconds'], undefined],
  ]);
  const names = exposedNames(['# TYPE c_total counter', 'c_total 1', '# TYPE h histogram', 'h_bucket{le="1"} 1', 'h_sum 1', 'h_count 1', '# TYPE unseen gauge'].join('\n'));
  assert.deepEqual([...names].sort(), ['c', 'c_total', 'h', 'h_bucket', 'h_count', 'h_sum']);
  assert.ok(isExposed({ name: 'h_', prefix: true }, names));
  assert.ok(isExposed({ name: '…_total', prefix: false, candidates: ['x_total', 'c_total'] }, names));
  assert.ok(!isExposed({ name: 'unseen', prefix: false }, names));
});
