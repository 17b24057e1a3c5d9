// `kvgate up` in one command: replicas with the engine flags given, their KV events wired into the
// gateway, so precise routing (and cache pressure) can be tried locally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnKvgate, waitForOutput } from '../helpers/cli.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';

test('kvgate up --preset precise sizes its replicas\' KV cache (--kv-cache-size, --block-size; --max-num-seqs and --max-num-batched-tokens go the same way) and routes on their KV events', { timeout: 120_000 }, async () => {
  const child = spawnKvgate([
    'up', '--port', '0', '--sim-base-port', '0', '--profile', 'instant', '--preset', 'precise', '--debug-scores', '--json',
    '--kv-cache-size', '96', '--block-size', '32', '--max-num-seqs', '7', '--max-num-batched-tokens', '3000',
  ]);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  try {
    await waitForOutput(child, /\{"gateway_url".*\}\n/, 60_000);
    const up = JSON.parse(stdout) as { gateway_url: string; replicas: string[]; kv_events: { port: number; replayPort: number }[] };
    assert.equal(up.kv_events.length, 3, 'free KV-event ports for each replica (ephemeral fleet)');
    const metrics = await (await fetch(`${up.replicas[0]}/metrics`)).text();
    assert.match(metrics, /vllm:cache_config_info\{[^}]*block_size="32"/);
    assert.match(metrics, /vllm:cache_config_info\{[^}]*num_gpu_blocks="96"/);
    // up's --max-num-seqs is the replicas' engine flag (not flow control's assumption): they report it, and the gateway's cap follows.
    assert.match(metrics, /vllm:scheduler_config_info\{[^}]*max_num_seqs="7"/);
    assert.match(metrics, /vllm:scheduler_config_info\{[^}]*max_num_batched_tokens="3000"/);
    const prompt = 'kvgate up wires the event streams. '.repeat(40); // ~350 tokens: 10 blocks of 32
    const send = async () => {
      const r = await fetch(`${up.gateway_url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, prompt, max_tokens: 1 }) });
      assert.equal(r.status, 200);
      const body = (await r.json()) as { usage: { prompt_tokens_details: { cached_tokens: number } } };
      const scores = JSON.parse(r.headers.get('x-kvgate-scores')!) as { endpoint: string; prefix: { blocks: number; source: string } }[];
      return { endpoint: r.headers.get('x-gateway-destination-endpoint-served')!, cached: body.usage.prompt_tokens_details.cached_tokens, scores };
    };
    const first = await send();
    // Until the replica's events for the first request reach the gateway (subscriptions join as traffic flows).
    let next = await send();
    for (let i = 0; i < 100 && next.scores.find((s) => s.endpoint === first.endpoint)?.prefix.source !== 'exact'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      next = await send();
    }
    const mine = next.scores.find((s) => s.endpoint === first.endpoint)!;
    assert.equal(mine.prefix.source, 'exact');
    assert.equal(next.endpoint, first.endpoint);
    assert.equal(next.cached, mine.prefix.blocks * 32, 'blocks of the replicas\' 32-token size, as the engine counts them');
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});
