import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEndpointList } from '../../src/datalayer/sources/static-endpoints.js';
import { readEndpointsFile, watchEndpointsFile } from '../../src/datalayer/sources/endpoints-file.js';
import type { EndpointInfo } from '../../src/router/api.js';

test('static endpoints: ip:port, URLs and IPv6 give host:port ids', () => {
  const eps = parseEndpointList(['10.0.0.1:8000,http://10.0.0.2:8001', 'https://[::1]:9443']);
  assert.deepEqual(eps.map((e) => [e.id, e.url]), [
    ['10.0.0.1:8000', 'http://10.0.0.1:8000'],
    ['10.0.0.2:8001', 'http://10.0.0.2:8001'],
    ['[::1]:9443', 'https://[::1]:9443'],
  ]);
});

test('static endpoints: a missing port, garbage or a duplicate is an error naming the endpoint', () => {
  assert.throws(() => parseEndpointList('10.0.0.1'), /invalid endpoint "10.0.0.1": missing port/);
  assert.throws(() => parseEndpointList('http://exa mple:80'), /invalid endpoint/);
  assert.throws(() => parseEndpointList('10.0.0.1:80,10.0.0.1:80'), /duplicate endpoint 10.0.0.1:80/);
  assert.throws(() => parseEndpointList('10.0.0.1:0'), /port 0 is not a destination/);
});

test('static endpoints and endpoints files: the scheme is case-insensitive, and a scheme other than http(s) is an error naming the entry', () => {
  const eps = parseEndpointList('http://127.0.0.1:20000,HTTP://127.0.0.1:20001,Https://h:8443');
  assert.deepEqual(eps.map((e) => [e.id, e.url]), [
    ['127.0.0.1:20000', 'http://127.0.0.1:20000'],
    ['127.0.0.1:20001', 'http://127.0.0.1:20001'],
    ['h:8443', 'https://h:8443'],
  ]);
  assert.throws(() => parseEndpointList('ftp://x:1'), /invalid endpoint "ftp:\/\/x:1": scheme ftp:\/\/ is not http:\/\/ or https:\/\//);
  assert.throws(() => parseEndpointList('10.0.0.1:80,GRPC://10.0.0.2:80'), /invalid endpoint "GRPC:\/\/10.0.0.2:80": scheme GRPC:\/\//);
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-eps-scheme-'));
  const file = join(dir, 'eps.txt');
  writeFileSync(file, 'HTTP://10.0.0.1:8000\n');
  assert.deepEqual(readEndpointsFile(file).map((e) => e.url), ['http://10.0.0.1:8000']);
  writeFileSync(file, '10.0.0.1:8000\nftp://10.0.0.2:21\n');
  assert.throws(() => readEndpointsFile(file), /eps\.txt: endpoints\[1\]: invalid endpoint "ftp:\/\/10\.0\.0\.2:21": scheme ftp:\/\//);
});

test('endpoints file: llm-d file-discovery YAML, a list, or one per line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-eps-'));
  const yaml = join(dir, 'a.yaml');
  writeFileSync(yaml, 'endpoints:\n- address: 10.0.0.1\n  port: "8000"\n  labels: {llm-d.ai/role: decode}\n- url: http://10.0.0.2:8000\n');
  const a = readEndpointsFile(yaml);
  assert.deepEqual(a.map((e) => e.id), ['10.0.0.1:8000', '10.0.0.2:8000']);
  assert.equal(a[0].labels['llm-d.ai/role'], 'decode');
  const lines = join(dir, 'b.txt');
  writeFileSync(lines, '# fleet\n10.0.0.3:8000\n\n10.0.0.4:8000  # second\n');
  assert.deepEqual(readEndpointsFile(lines).map((e) => e.id), ['10.0.0.3:8000', '10.0.0.4:8000']);
  const bad = join(dir, 'c.yaml');
  writeFileSync(bad, 'endpoints:\n- address: 10.0.0.1\n');
  assert.throws(() => readEndpointsFile(bad), /c\.yaml: endpoints\[0\]: expected/);
  assert.throws(() => readEndpointsFile(join(dir, 'none.yaml')), /none\.yaml: cannot read: ENOENT/);
  const labelled = join(dir, 'd.yaml');
  writeFileSync(labelled, 'endpoints:\n- {address: 10.0.0.5, port: 8000, labels: {gpu: 1, spot: true}}\n');
  assert.deepEqual(readEndpointsFile(labelled)[0].labels, { gpu: '1', spot: 'true' }, 'scalar label values become strings');
  writeFileSync(labelled, 'endpoints:\n- {address: 10.0.0.5, port: 8000, labels: {gpu: {count: 1}}}\n');
  assert.throws(() => readEndpointsFile(labelled), /d\.yaml: endpoints\[0\]\.labels\.gpu: expected a string/);
});

test('IPv6 endpoints: bracketed in --endpoints and files, bare in a structured address field; unbracketed with a port is an error showing the bracketed form', () => {
  const eps = parseEndpointList('[::1]:8000,[fd00:10:244::5]:8001');
  assert.deepEqual(eps.map((e) => [e.id, e.host, e.port, e.url]), [
    ['[::1]:8000', '::1', 8000, 'http://[::1]:8000'],
    ['[fd00:10:244::5]:8001', 'fd00:10:244::5', 8001, 'http://[fd00:10:244::5]:8001'],
  ]);
  assert.throws(() => parseEndpointList('[::1]:8000,::1:8001'), /invalid endpoint "::1:8001": an IPv6 address needs brackets, or its port is ambiguous: write \[::1\]:8001/);
  assert.equal(parseEndpointList('http://user:pw@10.0.0.1:8000')[0].id, '10.0.0.1:8000', 'the colons of user:password are not an IPv6 address');
  assert.throws(() => parseEndpointList('http://fd00::5/v1'), /invalid endpoint "http:\/\/fd00::5\/v1": .*write \[fd00::5\]:<port>/);
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-eps-v6-'));
  const yaml = join(dir, 'v6.yaml');
  writeFileSync(yaml, 'endpoints:\n- {address: "fd00:10:244::5", port: 8000, kvEventsPort: 5557}\n- {address: "[fd00:10:244::6]", port: "8000"}\n- "[::1]:9000"\n- url: http://[::1]:9001\n');
  const f = readEndpointsFile(yaml);
  assert.deepEqual(f.map((e) => [e.id, e.host]), [
    ['[fd00:10:244::5]:8000', 'fd00:10:244::5'],
    ['[fd00:10:244::6]:8000', 'fd00:10:244::6'],
    ['[::1]:9000', '::1'],
    ['[::1]:9001', '::1'],
  ]);
  const lines = join(dir, 'v6.txt');
  writeFileSync(lines, '[::1]:9000\n::1:9001\n');
  assert.throws(() => readEndpointsFile(lines), /v6\.txt: endpoints\[1\]: invalid endpoint "::1:9001": .*write \[::1\]:9001/);
});

test('endpoints file watch: an edit (also an atomic rename) reloads; a bad edit keeps the last good set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-watch-'));
  const file = join(dir, 'eps.txt');
  writeFileSync(file, '10.0.0.1:8000\n');
  const seen: EndpointInfo[][] = [];
  const errors: string[] = [];
  const w = watchEndpointsFile(file, (e) => seen.push(e), (e) => errors.push(e.message), 30);
  const until = async (f: () => boolean) => {
    for (let i = 0; i < 100 && !f(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(f());
  };
  try {
    writeFileSync(file, '10.0.0.1:8000\n10.0.0.2:8000\n');
    await until(() => seen.some((s) => s.length === 2));
    writeFileSync(file, 'not an endpoint\n');
    await until(() => errors.length > 0);
    assert.match(errors[0], /eps\.txt: endpoints\[0\]/);
    writeFileSync(join(dir, 'tmp'), '10.0.0.9:8000\n');
    renameSync(join(dir, 'tmp'), file);
    await until(() => seen.some((s) => s.length === 1 && s[0].id === '10.0.0.9:8000'));
    // A truncated file (a shell's `>` before its write lands) is a rejected edit, not "no endpoints";
    // an explicitly empty list is taken.
    const reloads = seen.length;
    writeFileSync(file, '');
    await until(() => errors.some((e) => /eps\.txt: the file is empty/.test(e)));
    assert.equal(seen.length, reloads);
    writeFileSync(file, 'endpoints: []\n');
    await until(() => seen.length > reloads);
    assert.deepEqual(seen.at(-1), []);
  } finally {
    w.close();
  }
});
