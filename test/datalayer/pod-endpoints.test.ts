import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podEndpoints, POD_ENDPOINT_LABELS, type PodLike } from '../../src/datalayer/sources/pod-endpoints.js';

function pod(name: string, ip: string): PodLike {
  return { metadata: { name, namespace: 'ns' }, status: { podIP: ip, conditions: [{ type: 'Ready', status: 'True' }] } };
}

test('pod endpoints: an IPv6 Pod IP is bracketed in the id and URL and bare in host; IPv4 unchanged', () => {
  const eps = podEndpoints([pod('a', 'fd00:10:244::5'), pod('b', '10.0.0.7')], [8000, 8001]);
  assert.deepEqual(
    eps.map((e) => [e.id, e.host, e.port, e.url, e.labels?.[POD_ENDPOINT_LABELS.rank]]),
    [
      ['10.0.0.7:8000', '10.0.0.7', 8000, 'http://10.0.0.7:8000', '0'],
      ['10.0.0.7:8001', '10.0.0.7', 8001, 'http://10.0.0.7:8001', '1'],
      ['[fd00:10:244::5]:8000', 'fd00:10:244::5', 8000, 'http://[fd00:10:244::5]:8000', '0'],
      ['[fd00:10:244::5]:8001', 'fd00:10:244::5', 8001, 'http://[fd00:10:244::5]:8001', '1'],
    ],
  );
});
