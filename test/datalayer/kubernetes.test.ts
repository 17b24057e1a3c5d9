import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubernetesEndpointSource } from '../../src/datalayer/sources/kubernetes-source.js';
import type { EndpointInfo } from '../../src/router/api.js';
import { silentLogger } from '../../src/shared/logger.js';

const pod = (name: string, ip: string, ready: boolean, rv: string) => ({
  metadata: { name, labels: { app: 'qwen' }, resourceVersion: rv },
  status: { podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

/** A local server speaking the Kubernetes list/watch API for one InferencePool and its pods. */
function fakeApi(opts: { pool?: 'v1' | 'v1alpha2' | 403; pods: ReturnType<typeof pod>[]; rv: string }) {
  const watches: { rv: string; res: ServerResponse }[] = [];
  let lists = 0;
  const server = createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    const json = (code: number, body: unknown) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (u.pathname === '/apis/inference.networking.k8s.io/v1/namespaces/ns/inferencepools/pool') {
      if (opts.pool === 403) return json(403, { kind: 'Status', code: 403 });
      if (opts.pool === 'v1') return json(200, { spec: { selector: { matchLabels: { app: 'qwen' } }, targetPorts: [{ number: 8000 }, { number: 8001 }] } });
      return json(404, {});
    }
    if (u.pathname === '/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/ns/inferencepools/pool') {
      return opts.pool === 'v1alpha2' ? json(200, { spec: { selector: { app: 'qwen' }, targetPortNumber: 8000 } }) : json(404, {});
    }
    if (u.pathname === '/api/v1/namespaces/ns/pods') {
      assert.equal(u.searchParams.get('labelSelector'), 'app=qwen');
      if (u.searchParams.get('watch') === '1') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        watches.push({ rv: u.searchParams.get('resourceVersion')!, res });
        return;
      }
      lists++;
      return json(200, { metadata: { resourceVersion: opts.rv }, items: opts.pods });
    }
    json(404, {});
  });
  return { server, watches, lists: () => lists };
}

async function setup(api: ReturnType<typeof fakeApi>) {
  await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-k8s-'));
  const kc = join(dir, 'config');
  writeFileSync(kc, `current-context: t\ncontexts:\n- name: t\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster: {server: "${url}"}\nusers:\n- name: u\n  user: {}\n`);
  const seen: EndpointInfo[][] = [];
  const src = new KubernetesEndpointSource({ poolName: 'pool', namespace: 'ns', kubeconfig: kc, logger: silentLogger(), backoffMs: 20 });
  src.start((e) => seen.push(e));
  return { src, seen };
}

async function until(f: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('InferencePool v1: Ready pods become one endpoint per target port; watch events add and remove them', async () => {
  const api = fakeApi({ pool: 'v1', pods: [pod('a', '10.1.0.1', true, '5'), pod('b', '10.1.0.2', false, '6')], rv: '10' });
  const { src, seen } = await setup(api);
  try {
    await until(() => seen.length > 0 && src.synced);
    assert.deepEqual(seen[0].map((e) => e.id), ['10.1.0.1:8000', '10.1.0.1:8001']);
    assert.equal(seen[0][0].labels.app, 'qwen');
    await until(() => api.watches.length === 1);
    assert.equal(api.watches[0].rv, '10', 'the watch starts at the list\'s resourceVersion');
    const w = api.watches[0].res;
    w.write(`${JSON.stringify({ type: 'MODIFIED', object: pod('b', '10.1.0.2', true, '11') })}\n`);
    await until(() => seen.at(-1)!.length === 4);
    w.write(`${JSON.stringify({ type: 'MODIFIED', object: pod('a', '10.1.0.1', false, '12') })}\n`);
    await until(() => seen.at(-1)!.length === 2 && seen.at(-1)![0].id === '10.1.0.2:8000');
    // The server drops the watch: it must be restarted from the last resourceVersion.
    w.end();
    await until(() => api.watches.length === 2);
    assert.equal(api.watches[1].rv, '12');
    // 410 Gone: relist.
    const before = api.lists();
    api.watches[1].res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410 } })}\n`);
    await until(() => api.lists() > before);
    await until(() => api.watches.length === 3);
    assert.equal(api.watches[2].rv, '10');
  } finally {
    await src.stop();
    for (const w of api.watches) w.res.destroy();
    api.server.close();
  }
});

test('InferencePool v1alpha2 is the fallback (selector map, targetPortNumber)', async () => {
  const api = fakeApi({ pool: 'v1alpha2', pods: [pod('a', '10.2.0.1', true, '1')], rv: '3' });
  const { src, seen } = await setup(api);
  try {
    await until(() => seen.length > 0);
    assert.deepEqual(seen[0].map((e) => e.id), ['10.2.0.1:8000']);
  } finally {
    await src.stop();
    for (const w of api.watches) w.res.destroy();
    api.server.close();
  }
});

test('missing RBAC: not synced, with a readable error', async () => {
  const api = fakeApi({ pool: 403, pods: [], rv: '1' });
  const { src, seen } = await setup(api);
  try {
    await until(() => src.lastError !== undefined);
    assert.equal(src.synced, false);
    assert.match(src.lastError!, /forbidden to read InferencePool ns\/pool: grant get\/list\/watch/);
    assert.equal(seen.length, 0);
  } finally {
    await src.stop();
    api.server.close();
  }
});
