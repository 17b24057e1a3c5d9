/* eslint-disable @typescript-eslint/no-explicit-any */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimServer } from '../../src/sim/server.js';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const body = JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 1 });

test('failure injection at 100 % returns only the configured failure types', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', failureInjectionRate: 100, failureTypes: ['rate_limit', 'server_error'] });
  try {
    const statuses = new Set<number>();
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${sim.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      const j = (await r.json()) as any;
      statuses.add(r.status);
      assert.ok(j.error.message.length > 0);
    }
    assert.deepEqual([...statuses].sort(), [429, 503]);
  } finally {
    await sim.close();
  }
});

test('/admin/config changes failure injection at run time', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant' });
  try {
    assert.equal((await fetch(`${sim.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 200);
    const set = await fetch(`${sim.url}/admin/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ failure_injection_rate: 100, failure_types: ['model_not_found'] }) });
    assert.equal(set.status, 200);
    assert.equal(((await set.json()) as any).failure_injection_rate, 100);
    assert.equal((await fetch(`${sim.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 404);
    assert.equal(((await (await fetch(`${sim.url}/admin/config`)).json()) as any).failure_types[0], 'model_not_found');
  } finally {
    await sim.close();
  }
});

test('not ready (503) until --startup-duration has passed, then 200', async () => {
  const sim = await startSimServer({ port: 0, profile: 'instant', startupDurationMs: 400 });
  try {
    const early = await fetch(`${sim.url}/health`);
    assert.equal(early.status, 503);
    assert.equal(((await early.json()) as any).error.code, 'not_ready');
    assert.equal((await fetch(`${sim.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status, 503);
    await new Promise((r) => setTimeout(r, 450));
    assert.equal((await fetch(`${sim.url}/health`)).status, 200);
  } finally {
    await sim.close();
  }
});

test('kvgate sim serves, then exits 0 on SIGTERM', async () => {
  const child = spawnKvgate(['sim', '--port', '0', '--profile', 'instant']);
  const line = await waitForOutput(child, /listening on (http:\/\/\S+)/);
  const url = line.split(' ').find((w) => w.startsWith('http'))!;
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(r.status, 200);
  const exit = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  child.kill('SIGTERM');
  assert.equal(await exit, 0);
});

test('kvgate sim rejects a bad flag naming it, with exit code 1', async () => {
  const r = await runKvgate(['sim', '--profile', 'no-such-profile', '--port', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unknown profile "no-such-profile" \(available: .*instant/);
  const r2 = await runKvgate(['sim', '--failure-injection-rate', '150']);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /--failure-injection-rate/);
});
