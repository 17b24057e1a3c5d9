// How many endpoints the EPP names in x-gateway-destination-endpoint: the picker's own choice
// (maxNumOfEndpoints, default 1, as GIE's pickers), not the gateway's whole failover order. A
// plain Envoy ORIGINAL_DST cluster (deploy/envoy/envoy.yaml) reads one ip:port from that header;
// a list there is for proxies that implement the GIE fallback list.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import type { EndpointMetrics } from '../../src/router/api.js';
import { EnvoyLikeClient, hv, headerOf, type Resp } from './client.js';
import { seeded } from '../router/helpers.js';
import { NAMING_TWO_YAML } from '../helpers/naming-two.js';

const PODS = [0, 1, 2, 3].map((i) => `192.168.1.${i + 1}:8000`);

/** The destination an EPP with `config` names for one request over four idle pods (header and envoy.lb metadata alike). */
async function destinationWith(config: ReturnType<typeof loadConfig>): Promise<string> {
  const epp = await startEppServer({ grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, host: '127.0.0.1', config, secureServing: false, random: seeded(3), metricsIntervalMs: 3_600_000, healthIntervalMs: 0, flowControl: { enabled: false } });
  const client = new EnvoyLikeClient(epp.grpcPort);
  try {
    const ds = epp.router.datastore;
    ds.setEndpoints(PODS.map((id, i) => ({ id, host: `192.168.1.${i + 1}`, port: 8000, url: 'http://127.0.0.1:1', labels: {} })));
    for (const id of PODS) ds.updateMetrics(id, { waitingQueueSize: 0, runningRequests: 0, kvCacheUsage: 0, activeLoras: [], waitingLoras: [], maxLoras: 2, updatedAtMs: performance.now() + 60_000 } satisfies EndpointMetrics);
    const routed = (got: Resp[]) => got.some((r) => r.immediate_response) || got.some((r) => r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream);
    const head = { request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] }, end_of_stream: false } };
    const body = { request_body: { body: Buffer.from(JSON.stringify({ model: 'm', prompt: 'hello', max_tokens: 5 })), end_of_stream: true } };
    const { responses } = await client.exchange([head, body], routed);
    const hdr = headerOf(responses[0].request_headers?.response?.header_mutation?.set_headers, 'x-gateway-destination-endpoint');
    const md = responses[0].dynamic_metadata?.fields?.['envoy.lb']?.structValue?.fields?.['x-gateway-destination-endpoint']?.stringValue;
    assert.equal(hdr, md, 'header and envoy.lb metadata are equal');
    return hdr!;
  } finally {
    client.close();
    await epp.close();
  }
}

test('the default picker names one endpoint: an ip:port a plain ORIGINAL_DST cluster can parse, not the gateway\'s failover list', async () => {
  const dest = await destinationWith(loadConfig());
  assert.match(dest, /^192\.168\.1\.[1-4]:8000$/);
});

test('maxNumOfEndpoints: 2 names two endpoints, the picker\'s choice first (GIE\'s ordered fallback list)', async () => {
  const dest = await destinationWith(loadConfig({ text: NAMING_TWO_YAML }));
  const ids = dest.split(',');
  assert.equal(ids.length, 2, dest);
  assert.notEqual(ids[0], ids[1]);
  for (const id of ids) assert.ok(PODS.includes(id), id);
});
