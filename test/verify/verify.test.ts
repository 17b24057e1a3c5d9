import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnKvgate, runKvgate, waitForOutput } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';

async function upFleet(extra: string[] = []) {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', ...extra]);
  let log = '';
  child.stdout!.on('data', (d) => (log = (log + d).slice(-4000)));
  child.stderr!.on('data', (d) => (log = (log + d).slice(-4000)));
  child.on('exit', (code, sig) => (log += `\n[kvgate up exited: ${code ?? sig}]`));
  const line = await waitForOutput(child, /fleet ready: (http:\/\/\S+)/, 30_000);
  return { child, url: line.split(' ').pop()!, log: () => log };
}

type Row = { test: string; status: string; result: string; diagnosis?: string; data?: Record<string, unknown> };
const rowOf = (out: { rows: Row[] }, name: string) => out.rows.find((r) => r.test === name)!;

test('verify against kvgate up passes every row; the cache row shows one replica and cached tokens on every repeat', async () => {
  const { child, url, log } = await upFleet();
  try {
    const r = await runKvgate(['verify', '--url', url, '--json'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}\nfleet: ${log()}`);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.rows.map((x: Row) => `${x.test}:${x.status}`), ['Health Check:PASS', 'Models List:PASS', 'Completion:PASS', 'Load Distribution:PASS', 'Cache Routing:PASS', 'Throughput:PASS']);
    const cache = rowOf(out, 'Cache Routing').data as { served: string[]; same_replica: boolean; cached_tokens: (number | null)[]; prompt_tokens: number; requests: number };
    assert.equal(cache.requests, 5);
    assert.equal(cache.same_replica, true);
    assert.equal(new Set(cache.served).size, 1);
    assert.ok(cache.cached_tokens.slice(1).every((t) => t !== null && t > 2000), JSON.stringify(cache));
    assert.match(rowOf(out, 'Cache Routing').result, /information only/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('a fleet without prefix caching fails Cache Routing with the diagnosis, exit 1', async () => {
  const { child, url } = await upFleet(['--no-enable-prefix-caching']);
  try {
    const r = await runKvgate(['verify', '--url', url], { timeoutMs: 90_000 });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\| Cache Routing\s+\| FAIL/);
    assert.match(r.stdout, /no cached tokens: prefix caching looks disabled — vllm:cache_config_info reports enable_prefix_caching=False/);
    assert.match(r.stdout, /\| Health Check\s+\| PASS/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('round-robin routing fails Cache Routing: the repeats went to other replicas', async () => {
  const { child, url } = await upFleet(['--preset', 'round-robin']);
  try {
    const r = await runKvgate(['verify', '--url', url, '--json'], { timeoutMs: 90_000 });
    assert.equal(r.code, 1);
    const cache = rowOf(JSON.parse(r.stdout), 'Cache Routing');
    assert.equal(cache.status, 'FAIL');
    assert.match(cache.diagnosis!, /^the same prompt went to 127\.0\.0\.1:\d+ and 127\.0\.0\.1:\d+.*: routing is not cache-aware/);
  } finally {
    child.kill('SIGTERM');
  }
});

/** An OpenAI-compatible server whose usage has no prompt_tokens_details (vLLM without --enable-prompt-tokens-details). */
async function noDetailsServer() {
  const srv = createServer((req, res) => {
    const json = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json', 'x-gateway-destination-endpoint-served': '10.0.0.1:8000' }).end(JSON.stringify(body));
    if (req.url === '/health') return res.writeHead(200).end();
    if (req.url === '/v1/models') return json({ object: 'list', data: [{ id: 'm', object: 'model' }] });
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => json({ id: 'c', object: 'text_completion', model: 'm', choices: [{ index: 0, text: ' ok', finish_reason: 'length' }], usage: { prompt_tokens: Math.ceil(body.length / 4), completion_tokens: 1, total_tokens: 2 } }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { srv, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
}

test('a fleet that does not report cached_tokens fails Cache Routing with a diagnosis, whatever the latency', async () => {
  const { srv, url } = await noDetailsServer();
  try {
    const r = await runKvgate(['verify', '--url', url, '--json']);
    const cache = rowOf(JSON.parse(r.stdout), 'Cache Routing');
    assert.equal(cache.status, 'FAIL');
    assert.match(cache.diagnosis!, /does not report usage\.prompt_tokens_details\.cached_tokens.*--enable-prompt-tokens-details/);
    assert.match(cache.result, /cached_tokens not reported/);
  } finally {
    srv.close();
  }
});

test("the seed script's flags: --prompt, --concurrent, --requests; a prompt shorter than a KV block is diagnosed", async () => {
  const { child, url } = await upFleet();
  try {
    const long = `Translate to Spanish: ${'Hello, how are you today? '.repeat(60)}`;
    const r = await runKvgate(['verify', '--url', url, '--json', '--prompt', long, '--concurrent', '4', '--requests', '8'], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(rowOf(out, 'Throughput').data!.concurrency, 4);
    assert.equal(rowOf(out, 'Throughput').data!.requests, 8);
    assert.ok((rowOf(out, 'Cache Routing').data!.prompt_tokens as number) > 300, 'the given prompt was the one sent');
    const short = await runKvgate(['verify', '--url', url, '--json', '--prompt', 'Translate to Spanish: Hello'], { timeoutMs: 90_000 });
    const cache = rowOf(JSON.parse(short.stdout), 'Cache Routing');
    assert.equal(cache.status, 'FAIL');
    assert.match(cache.diagnosis!, /the prompt has \d+ tokens; vLLM caches whole KV blocks/);
    const both = await runKvgate(['verify', '--url', url, '--concurrent', '4', '--parallel', '5']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--concurrent is --parallel \(the seed script's name\): give one of them/);
  } finally {
    child.kill('SIGTERM');
  }
});

test('an unreachable URL fails Health with a readable diagnosis, no stack trace', async () => {
  const port = await freePort();
  const r = await runKvgate(['verify', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /connection refused at http:\/\/127\.0\.0\.1:\d+/);
  assert.doesNotMatch(r.stdout + r.stderr, /at .*\.ts:\d+/);
});

// The title was `kvgate verify http://HOST`: docs/deployment-guide.md showed it over the table,
// where it read as a command, and the CLI refuses that command (verify takes --url).
test('the table\'s title names what was verified and is no command line: the CLI refuses `kvgate verify URL`', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const r = await runKvgate(['verify', '--url', url]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout.split('\n')[0], `Verification of ${url}`);
  assert.doesNotMatch(r.stdout, /kvgate verify/);
  const positional = await runKvgate(['verify', url]);
  assert.equal(positional.code, 1, 'the old title is a command the CLI rejects');
});

test('a server that is not OpenAI-compatible fails Models List', async () => {
  const srv = createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end('<html>nope</html>'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const r = await runKvgate(['verify', '--url', `http://127.0.0.1:${(srv.address() as AddressInfo).port}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /not an OpenAI server: \/v1\/models returned 404/);
  } finally {
    srv.close();
  }
});

test('a bad or missing --url is named', async () => {
  const r = await runKvgate(['verify', '--url', 'localhost:8080']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--url must start with http/);
  const none = await runKvgate(['verify']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /--url is required \(or --operators-only\)/);
});

test('verify refuses flags it would not use, and an empty --model, naming them before any request', async () => {
  // A server that counts requests: none may reach it.
  let hits = 0;
  const server = createServer((_, res) => {
    hits++;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const cases: [string[], RegExp][] = [
      // An unset variable: every request check was skipped ("no model known") and verify passed.
      [['--url', url, '--model', ''], /^kvgate: --model is empty \(an unset variable in --model "\$MODEL"\?\)/m],
      [['--operators-only', '--url', url], /give --url or --operators-only, not both/],
      [['--operators-only', '--model', 'm'], /give --model or --operators-only, not both/],
      [['--url', url, '--kubeconfig', '/nonexistent'], /^kvgate: --kubeconfig applies to --operators-only/m],
    ];
    for (const [args, message] of cases) {
      const r = await runKvgate(['verify', ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
    assert.equal(hits, 0, 'no request was sent');
  } finally {
    server.close();
  }
});

test('verify --url must be a base URL: a ?query, a #fragment or a port past 65535 is an error naming it, before any request', async () => {
  for (const [url, message] of [
    ['http://127.0.0.1:9/?x=1', /--url "http:\/\/127\.0\.0\.1:9\/\?x=1" must be a base URL without a \?query or #fragment/],
    ['http://127.0.0.1:9#top', /must be a base URL without a \?query or #fragment/],
    ['http://127.0.0.1:99999', /--url "http:\/\/127\.0\.0\.1:99999" is not a valid URL/],
    ['http://', /--url "http:\/\/" is not a valid URL/],
  ] as const) {
    const r = await runKvgate(['verify', '--url', url]);
    assert.equal(r.code, 1, url);
    assert.match(r.stderr, message, url);
    assert.equal(r.stdout, '', `${url}: no table`);
  }
});
