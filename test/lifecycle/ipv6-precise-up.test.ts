// `kvgate up --host ::1` with the precise preset, end to end over IPv6 loopback: replicas listen
// and publish KV events on ::1, the gateway subscribes to tcp://[::1]:<port> and routes a shared
// prefix by the engines' own events (an exact match of every block), as seen through the
// official openai client: the scores header names the exact source and vLLM's cached_tokens
// agrees. Each piece of the path failed on IPv6 before (ZeroMQ's IPv6 option, bracketed hosts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import OpenAI from 'openai';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { parsePromText } from '../helpers/prom-text.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const BS = 16; // the instant profile's block size

/** `blocks` full blocks of estimate tokens (4 characters each) plus one token, distinct per tag. */
function prompt(tag: string, blocks: number): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < tag.length; i++) h = Math.imul(h ^ tag.charCodeAt(i), 0x01000193) >>> 0;
  return Array.from({ length: blocks * BS + 1 }, (_, i) => ((h + i * 7919) % 36 ** 4).toString(36).padStart(4, '0')).join('');
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exit;
}

interface Score {
  endpoint: string;
  prefix?: { blocks: number; of: number; source: string };
}

test('kvgate up --host ::1 --preset precise: the openai client sees exact prefix routing from KV events over IPv6', async () => {
  const child = spawnKvgate(['up', '--host', '::1', '--port', '0', '--sim-base-port', '0', '--replicas', '3', '--profile', 'instant', '--preset', 'precise', '--debug-scores', '--json']);
  try {
    const ready = JSON.parse(await waitForOutput(child, /\{"gateway_url".*\}\n/, 90_000)) as { gateway_url: string; replicas: string[]; kv_events: { port: number }[] | null };
    assert.match(ready.gateway_url, /^http:\/\/\[::1\]:\d+$/);
    for (const u of ready.replicas) assert.match(u, /^http:\/\/\[::1\]:\d+$/);
    assert.equal(ready.kv_events?.length, 3);
    const ids = ready.replicas.map((u) => new URL(u).host); // [::1]:port, the endpoint ids

    // Every replica's stream live in the gateway (PUB/SUB joins take a moment): traffic to each replica until then.
    const replicas = ready.replicas.map((u) => new OpenAI({ baseURL: `${u}/v1`, apiKey: 'unused', maxRetries: 0 }));
    const live = async () => {
      const text = await (await fetch(`${ready.gateway_url}/metrics`)).text();
      const states = parsePromText(text).samples.filter((s) => s.name === 'kvgate_kv_events_stream_state' && s.labels.state === 'live' && s.value === 1).map((s) => s.labels.endpoint);
      return ids.every((id) => states.includes(id));
    };
    for (let i = 0; !(await live()); i++) {
      assert.ok(i < 200, 'every KV-event stream goes live');
      await Promise.all(replicas.map((c, r) => c.completions.create({ model: MODEL, prompt: prompt(`join${r}-${i}`, 1), max_tokens: 1 })));
    }

    const client = new OpenAI({ baseURL: `${ready.gateway_url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const p = prompt('shared', 12);
    const first = await client.completions.create({ model: MODEL, prompt: p, max_tokens: 1 }).withResponse();
    const servedFirst = first.response.headers.get('x-gateway-destination-endpoint-served')!;
    assert.ok(ids.includes(servedFirst), `served by a replica named [::1]:port (got ${servedFirst})`);
    // The first request's BlockStored batch reaches the gateway's index; then the same prompt is routed by an exact match.
    let exact: Score | undefined;
    let again;
    for (let i = 0; !exact; i++) {
      assert.ok(i < 200, 'the exact prefix index learns the blocks');
      again = await client.completions.create({ model: MODEL, prompt: p, max_tokens: 1 }).withResponse();
      const scores = JSON.parse(again.response.headers.get('x-kvgate-scores')!) as Score[];
      exact = scores.find((s) => s.endpoint === servedFirst && s.prefix?.source === 'exact' && s.prefix.blocks === 12);
    }
    assert.equal(again!.response.headers.get('x-gateway-destination-endpoint-served'), servedFirst, 'routed to the replica holding the prefix');
    assert.equal(exact.prefix!.of, 12);
    assert.equal(again!.data.usage?.prompt_tokens_details?.cached_tokens, 12 * BS, "vLLM's cached_tokens: every block the index said it held");
  } finally {
    await stop(child);
  }
});
