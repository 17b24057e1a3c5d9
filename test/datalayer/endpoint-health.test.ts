// EndpointHealth forgets an endpoint the datastore removes: its refused-probe record and its
// failure count go with it, so an endpoint coming back at the same address starts afresh (warned
// again if it still refuses, not ejected on failures of its predecessor).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryDatastore } from '../../src/router/index.js';
import { EndpointHealth } from '../../src/datalayer/endpoint-health.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { startSimServer } from '../../src/sim/server.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { waitFor } from '../gateway/helpers.js';

// Probes only when the test asks (refreshModels), so each warning follows a known probe.
const MANUAL = { intervalMs: 0, ejectAfter: 2, cooldownMs: 60_000, maxCooldownMs: 60_000 };

const refusedWarnings = (lines: LogLine[]) => lines.filter((l) => l.level === 40 && /GET \/v1\/models/.test(l.msg));

test('a removed endpoint that comes back still refusing /v1/models is warned about again, and /ready\'s error is not carried over', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', apiKeys: ['sk-upstream-only'] });
  const ds = new MemoryDatastore();
  const log = capturingLogger();
  const health = new EndpointHealth(ds, MANUAL, log.logger);
  const endpoint = parseEndpoint(sim.url);
  try {
    ds.upsertEndpoint(endpoint);
    health.refreshModels(endpoint.id);
    await waitFor(() => health.problem !== undefined);
    assert.equal(refusedWarnings(log.lines).length, 1);

    ds.removeEndpoint(endpoint.id);
    ds.upsertEndpoint(endpoint);
    assert.equal(health.problem, undefined, 'the returning endpoint has not been probed yet: no refusal to report');

    health.refreshModels(endpoint.id);
    await waitFor(() => health.problem !== undefined);
    const warnings = refusedWarnings(log.lines);
    assert.equal(warnings.length, 2, 'warned again');
    assert.equal(warnings[1].endpoint, endpoint.id);
    assert.match(warnings[1].msg, /answered 401 to GET \/v1\/models/);
  } finally {
    await health.close();
    await sim.close();
  }
});

test('a removed endpoint\'s failures are forgotten, including those reported after its removal', async () => {
  const ds = new MemoryDatastore();
  const log = capturingLogger();
  const health = new EndpointHealth(ds, MANUAL, log.logger);
  const endpoint = parseEndpoint('127.0.0.1:9');
  try {
    ds.upsertEndpoint(endpoint);
    health.failed(endpoint.id, 'connection refused');
    assert.equal(ds.get(endpoint.id)!.healthy, true, 'one failure of two');
    ds.removeEndpoint(endpoint.id);
    // A request that was in flight to it ends after the removal.
    health.failed(endpoint.id, 'connection refused');

    ds.upsertEndpoint(endpoint);
    health.failed(endpoint.id, 'connection refused');
    assert.equal(ds.get(endpoint.id)!.healthy, true, 'the returning endpoint has one failure, not three');
    health.failed(endpoint.id, 'connection refused');
    assert.equal(ds.get(endpoint.id)!.healthy, false, 'its own second failure ejects it');
    assert.equal(log.lines.filter((l) => l.msg === 'endpoint ejected').length, 1);
  } finally {
    await health.close();
  }
});

test('close() removes its datastore listener', async () => {
  const ds = new MemoryDatastore();
  // Counts the listeners through the datastore's own subscribe and the function it returns.
  let listeners = 0;
  const subscribe = ds.subscribe.bind(ds);
  ds.subscribe = (l) => {
    listeners++;
    const off = subscribe(l);
    return () => {
      listeners--;
      off();
    };
  };
  const health = new EndpointHealth(ds, MANUAL, capturingLogger().logger);
  assert.equal(listeners, 1);
  await health.close();
  assert.equal(listeners, 0);
});
