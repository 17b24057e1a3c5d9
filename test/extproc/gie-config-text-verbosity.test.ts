// The GIE EPP's --config-text (the EndpointPickerConfig YAML inline, cmd/epp/runner) and klog's
// -v, taken by `kvgate epp` as GIE's EPP takes them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer, type RunningSim } from '../../src/sim/server.js';
import { EnvoyLikeClient } from './client.js';
import { throughEnvoy } from '../helpers/envoy-harness.js';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { MODEL } from '../gateway/helpers.js';
import { NAMING_TWO_YAML } from '../helpers/naming-two.js';

let sims: RunningSim[] = [];
before(async () => {
  sims = await Promise.all([0, 1].map(() => startSimServer({ port: 0, profile: 'instant' })));
});
after(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

/**
 * Starts `kvgate epp` over the two replicas with `flags` and --access-log, sends one completion
 * through it to the replica it picked (the response too, so the request ends and its access-log
 * line is due), stops it (SIGTERM) and returns the destination it named and everything it logged.
 */
async function eppRun(flags: string[]): Promise<{ destination: string; logLines: { level: number; msg: string }[] }> {
  const endpoints = sims.map((s) => new URL(s.url).host).join(',');
  const child = spawnKvgate(['epp', '--endpoints', endpoints, '--host', '127.0.0.1', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--secure-serving=false', '--access-log', ...flags]);
  let out = ''; // the EPP logs JSON lines to stdout, beside its ready line
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let destination: string;
  try {
    const ready = await waitForOutput(child, /kvgate epp ready: ext_proc 127\.0\.0\.1:(\d+)/);
    const client = new EnvoyLikeClient(Number(/:(\d+)/.exec(ready)![1]));
    try {
      const urls = new Map(sims.map((s) => [new URL(s.url).host, s.url]));
      const r = await throughEnvoy(client, { path: '/v1/completions', body: JSON.stringify({ model: MODEL, prompt: 'hello', max_tokens: 2 }) }, (id) => urls.get(id)!);
      assert.equal(r.status, 200, r.body.toString());
      destination = r.destination!;
    } finally {
      client.close();
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
  const logLines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string });
  return { destination, logLines };
}

const ids = () => sims.map((s) => new URL(s.url).host).sort();

test('epp --config-text: the inline EndpointPickerConfig is the one in force (its picker names two endpoints); -v 2 logs at info', async () => {
  const r = await eppRun(['--config-text', NAMING_TWO_YAML, '-v', '2']);
  assert.deepEqual(r.destination.split(',').sort(), ids(), r.destination);
  assert.ok(r.logLines.some((l) => l.msg === 'request' && l.level === 30), 'the access-log line (info) is written at -v 2');
});

test('epp -v=1 (klog 0–1) logs at warn: the info access-log line is left out; --log-level wins over -v', async () => {
  const quiet = await eppRun(['-v=1']);
  assert.doesNotMatch(quiet.destination, /,/, 'the default preset names one endpoint');
  assert.deepEqual(quiet.logLines.filter((l) => l.level < 40), [], 'nothing below warn');
  const loud = await eppRun(['--v=1', '--log-level', 'info']);
  assert.ok(loud.logLines.some((l) => l.msg === 'request' && l.level === 30), 'the access-log line is written with --log-level info');
});

test('epp --config-text errors: beside --config-file (both named), bad YAML (named); -v not an integer (named)', async () => {
  const both = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--config-text', NAMING_TWO_YAML, '--config-file', 'epp.yaml']);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /^kvgate: give --config-file or --config-text, not both$/m);
  const badYaml = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--config-text', 'plugins: [']);
  assert.equal(badYaml.code, 1);
  assert.match(badYaml.stderr, /^kvgate: --config-text: invalid YAML: /m);
  assert.doesNotMatch(badYaml.stderr, /\n\s+at /, 'no stack trace');
  const badV = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '-v', 'abc']);
  assert.equal(badV.code, 1);
  assert.match(badV.stderr, /-v must be an integer >= 0 \(got "abc"\)/);
});
