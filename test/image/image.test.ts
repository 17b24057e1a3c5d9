import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import OpenAI from 'openai';
import { repoRoot, waitForOutput } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { EnvoyLikeClient, headerOf, healthCheck, hv, type Resp } from '../extproc/client.js';

/**
 * The container image, built and run on this machine: Debian's buildah with chroot isolation (no
 * daemon, works inside an unprivileged CI container), on a locally made stand-in for the official
 * Node 20 image (scripts/image-test-base.sh; no registry is reachable). Runs in `npm test` and CI
 * (.ci/run installs buildah and mmdebstrap). The test command builds the base and the image first,
 * alone (scripts/prepare-image-test.mjs: base 108 s and image 170 s measured with nothing
 * cached), so the build here meets cached layers and takes seconds; run alone on a cold machine
 * this file does the whole build itself.
 */
const IMAGE = 'localhost/kvgate:image-test';
const sh = (cmd: string, args: string[], opts: { timeout?: number } = {}) => execFileSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', timeout: opts.timeout ?? 120_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function have(cmd: string): boolean {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The `node` process below `pid` (buildah run → chroot runtime → exec → node). */
function nodeBelow(pid: number): number | undefined {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      /* exited meanwhile */
    }
  }
  const queue = [...(children.get(pid) ?? [])];
  while (queue.length) {
    const p = queue.shift()!;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0].split('/').pop() === 'node') return p;
    } catch {
      continue;
    }
    queue.push(...(children.get(p) ?? []));
  }
  return undefined;
}

async function nodePid(child: ChildProcess): Promise<number> {
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const p = nodeBelow(child.pid!);
    if (p) return p;
  }
  throw new Error('no node process under the container run');
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', (code) => r(code))));
}

/** The certificate a TLS server presents (the EPP's self-signed one), as PEM. */
function serverCertificate(port: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      const der = s.getPeerCertificate().raw;
      s.end();
      resolve(Buffer.from(`-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`));
    });
    s.on('error', reject);
  });
}

async function routeOnce(client: EnvoyLikeClient): Promise<string | undefined> {
  const body = JSON.stringify({ model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'hello from the image test', max_tokens: 2 });
  const { responses } = await client.exchange(
    [{ request_headers: { headers: { headers: [hv(':path', '/v1/completions'), hv(':method', 'POST'), hv('content-type', 'application/json')] } } }, { request_body: { body: Buffer.from(body), end_of_stream: true } }],
    (got: Resp[]) => got.some((r) => r.immediate_response || r.request_body?.response?.body_mutation?.streamed_response?.end_of_stream),
  );
  return headerOf(responses[0]?.request_headers?.response?.header_mutation?.set_headers, 'x-gateway-destination-endpoint');
}

test('container image: built with buildah on a local Node 20 base; non-root, production dependencies only; kvgate --version, sim and epp run in it; SIGTERM drains, with node as PID 1 too', { timeout: 20 * 60_000 }, async (t) => {
  assert.ok(have('buildah') && have('mmdebstrap'), 'the image test needs buildah and mmdebstrap: apt-get install buildah mmdebstrap (.ci/run does)');
  const t0 = Date.now();
  const base = sh('bash', ['scripts/image-test-base.sh'], { timeout: 10 * 60_000 }).split('\n').at(-1)!;
  const t1 = Date.now();
  sh(process.execPath, ['scripts/image.mjs', '--builder', 'buildah', '--isolation', 'chroot', '--base-image', base, '--tag', IMAGE], { timeout: 15 * 60_000 });
  const t2 = Date.now();

  const config = JSON.parse(sh('buildah', ['inspect', '--type', 'image', IMAGE])).OCIv1.config as { User: string; Entrypoint: string[]; Env: string[] };
  assert.equal(config.User, '1000:1000');
  assert.deepEqual(config.Entrypoint, ['node', '/app/bin/kvgate.js'], 'exec form: node itself receives signals');
  assert.ok(config.Env.includes('NODE_ENV=production'));

  const ctr = sh('buildah', ['from', '--name', `kvgate-image-test-${process.pid}`, IMAGE]);
  const children: ChildProcess[] = [];
  let mounted = false;
  const run = (args: string[]) => spawn('buildah', ['run', '--isolation', 'chroot', ctr, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    assert.equal(sh('buildah', ['run', '--isolation', 'chroot', ctr, '--', 'kvgate', '--version']), '0.1.0');
    assert.equal(sh('buildah', ['run', '--isolation', 'chroot', ctr, '--', 'id', '-u']), '1000', 'not root');
    const deps = JSON.parse(sh('buildah', ['run', '--isolation', 'chroot', ctr, '--', 'node', '-e', "const fs=require('fs');console.log(JSON.stringify(['typescript','eslint','tsx','openai','zeromq','@kubernetes/client-node'].map(p=>fs.existsSync('/app/node_modules/'+p))))"]));
    assert.deepEqual(deps, [false, false, false, false, true, true], 'dev dependencies (typescript, eslint, tsx, openai) are not in the image; runtime ones are');

    // kvgate sim inside the image, called from outside with the official client.
    const simPort = await freePort();
    const sim = run(['kvgate', 'sim', '--port', String(simPort), '--profile', 'instant']);
    children.push(sim);
    await waitForOutput(sim, /kvgate sim listening on/, 60_000);
    const done = await new OpenAI({ baseURL: `http://127.0.0.1:${simPort}/v1`, apiKey: 'unused' }).completions.create({ model: 'Qwen/Qwen2.5-3B-Instruct', prompt: 'The capital of France is', max_tokens: 3 });
    assert.equal(done.usage?.completion_tokens, 3);

    // kvgate epp inside the image with its defaults (TLS with a self-signed certificate made by the image's openssl).
    const [g, h, m] = [await freePort(), await freePort(), await freePort()];
    const epp = run(['kvgate', 'epp', '--endpoints', `127.0.0.1:${simPort}`, '--grpc-port', String(g), '--grpc-health-port', String(h), '--metrics-port', String(m), '--host', '127.0.0.1']);
    children.push(epp);
    await waitForOutput(epp, /kvgate epp ready: ext_proc 127\.0\.0\.1:\d+ \(TLS\)/, 60_000);
    assert.equal(await healthCheck(h, 'readiness'), 1);
    const client = new EnvoyLikeClient(g, await serverCertificate(g));
    try {
      assert.equal(await routeOnce(client), `127.0.0.1:${simPort}`);
    } finally {
      client.close();
    }
    // SIGTERM to the process in the container: it drains and exits 0.
    for (const c of [epp, sim]) {
      process.kill(await nodePid(c), 'SIGTERM');
      assert.equal(await exited(c), 0, 'drained and exited 0 on SIGTERM');
    }

    // As in a pod, node is PID 1 of its own PID namespace: SIGTERM still drains it.
    const mnt = sh('buildah', ['mount', ctr]);
    mounted = true;
    const [g2, h2, m2] = [await freePort(), await freePort(), await freePort()];
    const pid1 = spawn('unshare', ['--pid', '--fork', `--mount-proc=${mnt}/proc`, 'chroot', '--userspec=1000:1000', mnt, '/usr/local/bin/node', '/app/bin/kvgate.js', 'epp', '--endpoints', `127.0.0.1:${simPort}`, '--grpc-port', String(g2), '--grpc-health-port', String(h2), '--metrics-port', String(m2), '--host', '127.0.0.1', '--secure-serving=false'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', NODE_ENV: 'production', HOME: '/home/node' } });
    children.push(pid1);
    await waitForOutput(pid1, /kvgate epp ready/, 60_000);
    const nodeHostPid = await nodePid(pid1);
    const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${nodeHostPid}/status`, 'utf8'))![1].trim().split(/\s+/);
    assert.equal(nspid.at(-1), '1', 'node is PID 1 in its namespace');
    process.kill(nodeHostPid, 'SIGTERM');
    assert.equal(await exited(pid1), 0, 'PID 1 node handles SIGTERM: drains and exits 0');
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    if (mounted) sh('buildah', ['umount', ctr]);
    sh('buildah', ['rm', ctr]);
  }
  const t3 = Date.now();
  t.diagnostic(`image test timings: base ${((t1 - t0) / 1000).toFixed(1)} s, build ${((t2 - t1) / 1000).toFixed(1)} s, runs ${((t3 - t2) / 1000).toFixed(1)} s, total ${((t3 - t0) / 1000).toFixed(1)} s`);
});
