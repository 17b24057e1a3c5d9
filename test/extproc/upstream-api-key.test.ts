// The EPP's served-model discovery (/v1/models probes) over model servers started with vLLM's
// --api-key (kvgate sim --api-key): refused and reported without --upstream-api-key, learned with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEppServer, type RunningEpp } from '../../src/extproc/server.js';
import { loadConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { stop } from '../faults/processes.js';
import { waitFor, MODEL } from '../gateway/helpers.js';

const KEY = 'sk-upstream-e77a';

/** A keyed replica (its http lines captured: each probe and its status) and an EPP over it. */
async function keyedEpp(upstreamApiKey?: string): Promise<{ sim: RunningSim; epp: RunningEpp; lines: LogLine[]; simLines: LogLine[]; close(): Promise<void> }> {
  const simLog = capturingLogger();
  const sim = await startSimServer({ port: 0, profile: 'instant', apiKeys: [KEY], logHttp: true }, { logger: simLog.logger });
  const { logger, lines } = capturingLogger();
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: loadConfig(), endpoints: [parseEndpoint(sim.url)], healthIntervalMs: 50, metricsIntervalMs: 3_600_000, upstreamApiKey, logger });
  return {
    sim,
    epp,
    lines,
    simLines: simLog.lines,
    async close() {
      await epp.close();
      await sim.close();
    },
  };
}

const ready = async (epp: RunningEpp) => (await (await fetch(`http://127.0.0.1:${epp.metricsPort}/ready`)).json()) as { ready: boolean; error?: string };
const servedIds = (epp: RunningEpp) => epp.director.servedModels().map((m) => m.id);

test('EPP without --upstream-api-key: the probe is refused, warned once, /ready carries the reason, no served models', async () => {
  const f = await keyedEpp();
  try {
    // Three refused probes (counted on the replica; the third starts after the first two were read).
    await waitFor(() => f.simLines.filter((l) => l.msg === 'http' && l.path === '/v1/models' && l.status === 401).length >= 3);
    assert.equal(f.lines.filter((l) => l.level === 40 && /GET \/v1\/models/.test(l.msg)).length, 1, 'one warning, not one per probe');
    assert.match((await ready(f.epp)).error ?? '', /answered 401 to GET \/v1\/models: the model server requires an API key.*--upstream-api-key or KVGATE_UPSTREAM_API_KEY/);
    assert.deepEqual(servedIds(f.epp), []);
  } finally {
    await f.close();
  }
});

test('EPP with --upstream-api-key learns the served models of a keyed model server', async () => {
  const f = await keyedEpp(KEY);
  try {
    await waitFor(() => servedIds(f.epp).includes(MODEL));
    assert.equal((await ready(f.epp)).error, undefined);
    assert.equal(f.lines.filter((l) => l.level === 40).length, 0);
  } finally {
    await f.close();
  }
});

test('kvgate epp reads KVGATE_UPSTREAM_API_KEY: a wrong key is reported as refused, without printing it', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', apiKeys: [KEY] });
  const wrong = 'sk-wrong-0b4d';
  const env = { ...process.env, KVGATE_UPSTREAM_API_KEY: wrong };
  const child = spawnKvgate(['epp', '--endpoints', sim.url, '--host', '127.0.0.1', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--secure-serving', 'false', '--health-interval', '50ms'], { env });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  try {
    await waitForOutput(child, /endpoint \S+ refused the key of --upstream-api-key \/ KVGATE_UPSTREAM_API_KEY on GET \/v1\/models \(401\)/, 60_000);
    assert.ok(!output.includes(wrong), 'the key is not in the EPP\'s output');
  } finally {
    await stop(child);
    await sim.close();
  }
});
