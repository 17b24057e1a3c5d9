import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runKvgate, spawnKvgate, waitForOutput } from '../helpers/cli.js';
import { makeTestPki } from '../helpers/tls.js';

/** A TCP server holding an ephemeral port on 127.0.0.1 (or all interfaces), to collide with. */
async function holdPort(host = '127.0.0.1'): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as { port: number }).port, server };
}

/** One clear line naming the flag: no stack trace, no library's own message before it. */
function assertFlagError(r: { code: number | null; stderr: string }, flag: RegExp, code = 1) {
  assert.equal(r.code, code, r.stderr);
  assert.match(r.stderr, flag);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

test('bad flag values name the flag: --port out of range, --log-level unknown, unreadable --tls-cert', async () => {
  for (const cmd of ['serve', 'up', 'sim']) {
    const r = await runKvgate([cmd, '--port', '99999', ...(cmd === 'serve' ? ['--endpoints', '127.0.0.1:9'] : [])]);
    assertFlagError(r, /option '--port <n>' argument '99999' is invalid\. --port must be a port number from 0 to 65535/);
  }
  for (const cmd of ['serve', 'epp', 'up']) {
    const r = await runKvgate([cmd, '--log-level', 'loud', '--endpoints', '127.0.0.1:9']);
    assertFlagError(r, /option '--log-level <level>' argument 'loud' is invalid\. Allowed choices are fatal, error, warn, info, debug, trace, silent/);
    assert.doesNotMatch(r.stderr, /custom levels/);
    // Without --log-level the variable is the default, and a bad one is named as clearly.
    const args = { serve: ['--port', '0', '--endpoints', '127.0.0.1:9'], epp: ['--grpc-port', '0', '--endpoints', '127.0.0.1:9'], up: ['--port', '0', '--sim-base-port', '0'] }[cmd]!;
    const env = await runKvgate([cmd, ...args], { env: { ...process.env, KVGATE_LOG_LEVEL: 'loud' } });
    assertFlagError(env, /^kvgate: KVGATE_LOG_LEVEL=loud is not a log level \(fatal, error, warn, info, debug, trace, silent\)$/m);
  }
  const tls = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--tls-cert', '/nonexistent.pem', '--tls-key', '/nonexistent.pem']);
  assertFlagError(tls, /^kvgate: --tls-cert: cannot read \/nonexistent\.pem: no such file$/m);
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-tls-'));
  writeFileSync(join(dir, 'cert.pem'), 'not a certificate');
  const junk = await runKvgate(['serve', '--port', '0', '--endpoints', '127.0.0.1:9', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'cert.pem')]);
  assertFlagError(junk, /^kvgate: --tls-cert\/--tls-key: not a PEM certificate and its private key/m);
  for (const cmd of ['serve', 'epp']) {
    // The routing config and the pool flags name the flag too (the loader said only the path).
    const cfg = await runKvgate([cmd, '--endpoints', '127.0.0.1:9', '--config-file', '/nonexistent.yaml']);
    assertFlagError(cfg, /^kvgate: --config-file: cannot read \/nonexistent\.yaml: no such file$/m);
    writeFileSync(join(dir, 'bad.yaml'), 'plugins: 3\n');
    const bad = await runKvgate([cmd, '--endpoints', '127.0.0.1:9', '--config-file', join(dir, 'bad.yaml')]);
    assertFlagError(bad, new RegExp(`^kvgate: --config-file: ${dir}/bad\\.yaml: `, 'm'));
    const ns = await runKvgate([cmd, '--pool-namespace', 'team-a']);
    assertFlagError(ns, /^kvgate: --pool-namespace applies to InferencePool discovery: give --pool-name too$/m);
  }
  const certPath = await runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--cert-path', dir]);
  assertFlagError(certPath, new RegExp(`^kvgate: --cert-path: cannot read ${dir}/tls.crt: no such file$`, 'm'));
});

test('render: required flags marked in --help and reported together; -o naming a file is a clear error', async () => {
  const help = await runKvgate(['render', '--help']);
  for (const f of ['--name', '--namespace', '--model']) assert.match(help.stdout, new RegExp(`${f} <[a-z]+>\\s+\\(required\\)`), f);
  const missing = await runKvgate(['render', '--namespace', 'ns']);
  assertFlagError(missing, /^kvgate: --name, --model: required but not given$/m);
  const file = join(mkdtempSync(join(tmpdir(), 'kvgate-render-')), 'afile');
  writeFileSync(file, '');
  const r = await runKvgate(['render', '--name', 'a', '--namespace', 'b', '--model', 'm', '-o', file]);
  assertFlagError(r, new RegExp(`^kvgate: --output: ${file} is a file; give a directory`, 'm'));
  assert.doesNotMatch(r.stderr, /EEXIST/);
});

test('render -o where mkdir answers ENOENT under an existing parent (procfs, a dangling symlink): prompt error, no hang', async () => {
  // Node 20's recursive mkdirSync loops forever on these; the runner's kill after 20 s turns a
  // hang into code null, which fails the exit-code assertion.
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-render-'));
  symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
  const args = ['render', '--name', 'a', '--namespace', 'b', '--model', 'm', '-o'];
  const r = await runKvgate([...args, join(dir, 'dangling', 'out')], { timeoutMs: 20_000 });
  assertFlagError(r, new RegExp(`^kvgate: --output: cannot create ${dir}/dangling/out: ENOTDIR \\(exists and is not a directory, mkdir '${dir}/dangling'\\)$`, 'm'));
  if (existsSync('/proc/self')) {
    const proc = await runKvgate([...args, '/proc/nope'], { timeoutMs: 20_000 });
    assertFlagError(proc, /^kvgate: --output: cannot create \/proc\/nope: ENOENT \(no such file or directory, mkdir '\/proc\/nope'\)$/m);
  }
  // A directory that exists is written into; missing levels are created.
  const ok = await runKvgate([...args, join(dir, 'a', 'b')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(existsSync(join(dir, 'a', 'b', 'kustomization.yaml')));
});

test('epp: a --grpc-port in use is one kvgate line, without grpc-js logging its own', async () => {
  const held = await holdPort('0.0.0.0');
  try {
    const r = await runKvgate(['epp', '--grpc-port', String(held.port), '--grpc-health-port', '0', '--metrics-port', '0', '--endpoints', '127.0.0.1:9'], { timeoutMs: 30_000 });
    assertFlagError(r, /\(--grpc-port\): the port is already in use/);
    assert.doesNotMatch(r.stderr, /No address added/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  } finally {
    held.server.close();
  }
});

test('up: a replica port or KV-events port in use names --sim-base-port / --kv-events-base-port', async () => {
  const held = await holdPort();
  try {
    const sim = await runKvgate(['up', '--port', '0', '--sim-base-port', String(held.port), '--kv-events-base-port', '0', '--profile', 'instant'], { timeoutMs: 30_000 });
    assertFlagError(sim, new RegExp(`^kvgate: --sim-base-port: replica port ${held.port} is already in use`, 'm'));
    // Replica 0 publishes KV events on the base port: hold it, give the replicas a free HTTP range.
    const httpBase = await holdPort();
    httpBase.server.close();
    const kv = await runKvgate(['up', '--port', '0', '--replicas', '1', '--sim-base-port', String(httpBase.port), '--kv-events-base-port', String(held.port), '--profile', 'instant'], { timeoutMs: 30_000 });
    assertFlagError(kv, new RegExp(`^kvgate: --kv-events-base-port: KV-events port ${held.port} or its replay port \\d+ is already in use`, 'm'));
  } finally {
    held.server.close();
  }
});

/** Runs `kvgate up` with extra flags, sends a body of `bytes`, stops the fleet; statuses and all of stderr. */
async function upOnce(flags: string[], bytes: number): Promise<{ status: number; stderr: string }> {
  const child = spawnKvgate(['up', '--port', '0', '--sim-base-port', '0', '--kv-events-base-port', '0', '--profile', 'instant', '--json', '--access-log', ...flags]);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.once('exit', r));
  let status: number;
  try {
    const { gateway_url } = JSON.parse(await waitForOutput(child, /\{"gateway_url".*\}/, 30_000)) as { gateway_url: string };
    const r = await fetch(`${gateway_url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'x'.repeat(bytes), max_tokens: 1 }) });
    await r.arrayBuffer();
    status = r.status;
  } finally {
    child.kill('SIGINT');
    await exited; // every line it logged is on stderr now
  }
  return { status, stderr };
}

test("up takes the gateway's --log-level, --max-body-bytes and --metrics-interval as serve does", async () => {
  // The access log is an info line (pino level 30): there by default, gone at --log-level warn.
  const dflt = await upOnce([], 300);
  assert.equal(dflt.status, 200);
  assert.match(dflt.stderr, /"level":30.*"status":200/);
  const quiet = await upOnce(['--log-level', 'warn', '--max-body-bytes', '200', '--metrics-interval', '200ms', '--health-interval', '2s'], 300);
  assert.equal(quiet.status, 413);
  assert.doesNotMatch(quiet.stderr, /"level":30/);
});

test('serve, up: a --host this machine does not have is one line naming --host', async () => {
  // 192.0.2.0/24 is TEST-NET-1, never assigned to a host (no lookup: it is an address).
  const r = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--port', '0', '--host', '192.0.2.1']);
  assertFlagError(r, /^kvgate: --host 192\.0\.2\.1: not an address of this machine \(EADDRNOTAVAIL\)/m);
  const up = await runKvgate(['up', '--port', '0', '--sim-base-port', '0', '--host', '192.0.2.1']);
  assertFlagError(up, /^kvgate: --host 192\.0\.2\.1: not an address of this machine \(EADDRNOTAVAIL\); give one of its addresses, 127\.0\.0\.1 or 0\.0\.0\.0$/m);
});

test('serve, up: an IPv6 --host this machine does not have suggests the IPv6 loopback, not IPv4 addresses', async () => {
  // 2001:db8::/32 is the IPv6 documentation prefix, never assigned to a host.
  const r = await runKvgate(['serve', '--endpoints', '127.0.0.1:9', '--port', '0', '--host', '2001:db8::1']);
  assertFlagError(r, /^kvgate: --host 2001:db8::1: not an address of this machine \(EADDRNOTAVAIL\); give one of its addresses, ::1 or :: \(every interface\)$/m);
  const up = await runKvgate(['up', '--port', '0', '--sim-base-port', '0', '--host', '[2001:db8::1]']);
  assertFlagError(up, /^kvgate: --host 2001:db8::1: not an address of this machine \(EADDRNOTAVAIL\); give one of its addresses, ::1 or :: \(every interface\)$/m);
});

test('sim, up: a --host name that does not resolve is one line naming --host, not getaddrinfo\'s text', async () => {
  // .invalid never resolves (RFC 6761 section 6.4); without DNS at all getaddrinfo says EAI_AGAIN, the same message.
  const line = /^kvgate: --host kvgate-test\.invalid: the name does not resolve \((ENOTFOUND|EAI_AGAIN)\); give one of its addresses, 127\.0\.0\.1 or 0\.0\.0\.0$/m;
  const sim = await runKvgate(['sim', '--port', '0', '--host', 'kvgate-test.invalid']);
  assertFlagError(sim, line);
  const up = await runKvgate(['up', '--port', '0', '--sim-base-port', '0', '--host', 'kvgate-test.invalid']);
  assertFlagError(up, line);
  assert.doesNotMatch(up.stderr, /getaddrinfo/);
});

test('epp --cert-path: a tls.crt or tls.key that is not PEM, or a key of another certificate, is named with --cert-path (grpc-js blamed --grpc-port)', async () => {
  const pki = makeTestPki();
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-cert-path-'));
  const epp = (d: string) => runKvgate(['epp', '--endpoints', '127.0.0.1:9', '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--cert-path', d], { timeoutMs: 20_000 });
  try {
    writeFileSync(join(dir, 'tls.crt'), 'not a certificate\n');
    writeFileSync(join(dir, 'tls.key'), readFileSync(pki.serverKey));
    const crt = await epp(dir);
    assertFlagError(crt, new RegExp(`^kvgate: --cert-path ${dir}: tls\\.crt is not a PEM certificate`, 'm'));
    assert.doesNotMatch(crt.stderr, /--grpc-port/);
    writeFileSync(join(dir, 'tls.crt'), readFileSync(pki.serverCert));
    writeFileSync(join(dir, 'tls.key'), 'not a key\n');
    assertFlagError(await epp(dir), new RegExp(`^kvgate: --cert-path ${dir}: tls\\.key is not an unencrypted PEM private key`, 'm'));
    writeFileSync(join(dir, 'tls.key'), readFileSync(pki.clientKey));
    assertFlagError(await epp(dir), new RegExp(`^kvgate: --cert-path ${dir}: tls\\.key is not the private key of tls\\.crt's certificate$`, 'm'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
  }
});

test('--pool-name / --pool-namespace (and $NAMESPACE) that are not Kubernetes names are errors naming their source, before any API call (they went into the API path as given)', async () => {
  for (const cmd of ['serve', 'epp']) {
    const name = await runKvgate([cmd, '--pool-name', 'Bad_Name', '--kubeconfig', '/nonexistent']);
    assertFlagError(name, /^kvgate: --pool-name "Bad_Name" is not a Kubernetes object name \(a DNS-1123 subdomain: lower-case letters, digits, '-' and '\.'; ≤ 253 characters\)$/m);
    const ns = await runKvgate([cmd, '--pool-name', 'pool', '--pool-namespace', 'a/../b', '--kubeconfig', '/nonexistent']);
    assertFlagError(ns, /^kvgate: --pool-namespace "a\/\.\.\/b" is not a Kubernetes namespace \(a DNS-1123 label: lower-case letters, digits, '-'; ≤ 63 characters\)$/m);
  }
  const env = await runKvgate(['epp', '--pool-name', 'pool', '--kubeconfig', '/nonexistent'], { env: { NAMESPACE: 'Team_A' } });
  assertFlagError(env, /^kvgate: \$NAMESPACE "Team_A" is not a Kubernetes namespace/m);
  // A good pair goes on to the next check (here: the kubeconfig that does not exist).
  const good = await runKvgate(['epp', '--pool-name', 'my.pool', '--pool-namespace', 'team-a', '--kubeconfig', '/nonexistent']);
  assertFlagError(good, /^kvgate: --kubeconfig \/nonexistent: no such file$/m);
});
