import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate } from '../helpers/cli.js';

/** A local server answering the few Kubernetes API reads preflight makes. */
async function fakeApi(opts: { crds: string[]; nsLabels?: Record<string, string>; secrets: string[]; token: string }): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${opts.token}`) return res.writeHead(401).end('{}');
    const u = req.url!;
    const json = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (u === '/version') return json(200, { gitVersion: 'v1.31.2' });
    let m = /^\/apis\/apiextensions\.k8s\.io\/v1\/customresourcedefinitions\/(.+)$/.exec(u);
    if (m) return opts.crds.includes(m[1]) ? json(200, { metadata: { name: m[1] } }) : json(404, { kind: 'Status', code: 404 });
    m = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(u);
    if (m) return opts.nsLabels ? json(200, { metadata: { name: m[1], labels: opts.nsLabels } }) : json(404, {});
    m = /^\/api\/v1\/namespaces\/[^/]+\/secrets\/(.+)$/.exec(u);
    if (m) return opts.secrets.includes(m[1]) ? json(200, {}) : json(404, {});
    json(404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function kubeconfig(server: string, token: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-kc-'));
  const f = join(dir, 'config');
  writeFileSync(f, `apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: test\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: "${server}"}\nusers:\n- name: u\n  user: {token: ${token}}\n`);
  return f;
}

const ALL_CRDS = ['inferencepools.inference.networking.k8s.io', 'gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'envoyfilters.networking.istio.io'];

test('a ready cluster passes every check', async () => {
  const api = await fakeApi({ crds: ALL_CRDS, nsLabels: { 'istio-injection': 'enabled' }, secrets: ['hf-token'], token: 't0k' });
  try {
    const r = await runKvgate(['preflight', '--kubeconfig', kubeconfig(api.url, 't0k'), '--namespace', 'ns1', '--secret', 'hf-token', '--json']);
    const out = JSON.parse(r.stdout);
    const bad = out.rows.filter((x: { status: string; required: boolean; check: string }) => x.status === 'FAIL' && x.required && x.check !== 'kubectl');
    assert.deepEqual(bad, []);
    assert.ok(out.rows.some((x: { check: string; detail: string }) => x.check === 'cluster reachable' && /v1\.31\.2/.test(x.detail)));
  } finally {
    api.server.close();
  }
});

test('missing CRDs, label and secret each FAIL with a fix hint; exit 1', async () => {
  const api = await fakeApi({ crds: ALL_CRDS.slice(1), nsLabels: {}, secrets: [], token: 't0k' });
  try {
    const r = await runKvgate(['preflight', '--kubeconfig', kubeconfig(api.url, 't0k'), '--namespace', 'ns1', '--secret', 'hf-token']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL\s+CRD InferencePool \(GIE\)\s+inferencepools\.inference\.networking\.k8s\.io not installed\n\s+fix: install the Gateway API Inference Extension CRDs/);
    assert.match(r.stdout, /FAIL\s+namespace ns1 sidecar injection\s+no istio-injection label\n\s+fix: kubectl label namespace ns1 istio-injection=enabled/);
    assert.match(r.stdout, /FAIL\s+secret hf-token\s+missing in ns1/);
    assert.match(r.stdout, /SKIP\s+CRD KServe LLMInferenceService/);
  } finally {
    api.server.close();
  }
});

test('without a cluster, preflight checks local tools and says so', async () => {
  const home = mkdtempSync(join(tmpdir(), 'kvgate-home-'));
  const r = await runKvgate(['preflight'], { env: { HOME: home, KUBECONFIG: '' } });
  assert.match(r.stdout, /no cluster configured: only local tools were checked/);
  assert.match(r.stdout, /SKIP\s+cluster reachable/);
});

test('an unreachable cluster fails with a hint', async () => {
  const r = await runKvgate(['preflight', '--kubeconfig', kubeconfig('http://127.0.0.1:1', 'x')]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL\s+cluster reachable\s+http:\/\/127\.0\.0\.1:1/);
  assert.match(r.stdout, /fix: check the kubeconfig context/);
});
