import { test } from 'node:test';
import assert from 'node:assert/strict';
import { zmqIPv6 } from '../../src/shared/zmq-ipv6.js';
import { bracketHost, canonicalHost, formatHostPort, hostUrl, parseListenHost, splitHostPort, unbracketHost, unbracketedIPv6Problem } from '../../src/shared/host-port.js';

test('host-port: IPv6 hosts are bracketed next to a port, bare for sockets; IPv4 and names unchanged', () => {
  assert.equal(bracketHost('::1'), '[::1]');
  assert.equal(bracketHost('[::1]'), '[::1]');
  assert.equal(bracketHost('10.0.0.1'), '10.0.0.1');
  assert.equal(bracketHost('localhost'), 'localhost');
  assert.equal(unbracketHost('[fd00:10:244::5]'), 'fd00:10:244::5');
  assert.equal(unbracketHost('fd00:10:244::5'), 'fd00:10:244::5');
  assert.equal(formatHostPort('fd00:10:244::5', 8000), '[fd00:10:244::5]:8000');
  assert.equal(formatHostPort('127.0.0.1', '8000'), '127.0.0.1:8000');
  assert.equal(hostUrl('tcp', '::', 5557), 'tcp://[::]:5557');
  assert.equal(hostUrl('http', '127.0.0.1', 80), 'http://127.0.0.1:80');
});

test('host-port: an unbracketed IPv6 address with a port is named, with the bracketed form to write', () => {
  assert.equal(unbracketedIPv6Problem('::1:8000'), 'an IPv6 address needs brackets, or its port is ambiguous: write [::1]:8000');
  assert.match(unbracketedIPv6Problem('fd00:10:244::5')!, /write \[fd00:10:244::5\]:<port>$/);
  for (const ok of ['[::1]:8000', '10.0.0.1:8000', 'host:8000', 'host']) assert.equal(unbracketedIPv6Problem(ok), undefined, ok);
});

test('host-port: listen addresses take IPv6 bracketed or bare; brackets around anything else or an empty address are errors naming the flag', () => {
  assert.deepEqual(parseListenHost('[::1]', '--host'), { host: '::1' });
  assert.deepEqual(parseListenHost('::', '--host'), { host: '::' });
  assert.deepEqual(parseListenHost('0.0.0.0', '--host'), { host: '0.0.0.0' });
  assert.deepEqual(parseListenHost('[127.0.0.1]', '--host'), { error: '--host: "[127.0.0.1]" is not a bracketed IPv6 address (e.g. [::1])' });
  assert.match((parseListenHost(' ', '--host') as { error: string }).error, /^--host: empty address/);
});

test("zmqIPv6: ZeroMQ's IPv6 option for IPv6 literals, * (dual-stack) and names (may resolve to IPv6 only); off for IPv4 literals and non-TCP", () => {
  for (const e of ['tcp://[::1]:5557', 'tcp://[fd00:10:244::5]:5557', 'tcp://*:5557', 'tcp://router.ns.svc:5557', 'tcp://eth0;[::1]:5557']) assert.equal(zmqIPv6(e), true, e);
  for (const e of ['tcp://127.0.0.1:5557', 'tcp://0.0.0.0:5557', 'tcp://10.0.0.5:5557', 'ipc:///tmp/kv', 'inproc://kv']) assert.equal(zmqIPv6(e), false, e);
});

test('canonicalHost: one spelling per IPv6 address, bare; names lower-cased', () => {
  assert.equal(canonicalHost('[FD00:10:244:0:0:0:0:5]'), 'fd00:10:244::5');
  assert.equal(canonicalHost('fd00:10:244::5'), 'fd00:10:244::5');
  assert.equal(canonicalHost('10.0.0.5'), '10.0.0.5');
  assert.equal(canonicalHost('Router.NS'), 'router.ns');
});

test('splitHostPort: host:port at the last colon, the host bare; none without a port number', () => {
  assert.deepEqual(splitHostPort('[::1]:8000'), { host: '::1', port: 8000 });
  assert.deepEqual(splitHostPort('10.0.0.5:8000'), { host: '10.0.0.5', port: 8000 });
  assert.deepEqual(splitHostPort('fd00::5:8000'), { host: 'fd00::5', port: 8000 });
  for (const bad of ['10.0.0.5', '[::1]', ':8000', 'h:99999', 'h:x']) assert.equal(splitHostPort(bad), undefined, bad);
});
