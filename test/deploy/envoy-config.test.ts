// deploy/envoy/envoy.yaml: the shipped plain-Envoy config. No Envoy binary runs here, so the file is
// parsed and its listener checked: one dual-stack socket (`::` with ipv4_compat, Envoy's
// SocketAddress rule) so IPv4 and IPv6 clients both connect; 0.0.0.0 refused IPv6 clients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

type SocketAddress = { address: string; port_value: number; ipv4_compat?: boolean };
type Listener = { name: string; address: { socket_address: SocketAddress } };

const config = parse(readFileSync(new URL('../../deploy/envoy/envoy.yaml', import.meta.url), 'utf8')) as {
  static_resources: { listeners: Listener[] };
};

test('deploy/envoy/envoy.yaml: every listener binds :: with ipv4_compat (IPv4 and IPv6 clients on one socket)', () => {
  const listeners = config.static_resources.listeners;
  assert.ok(listeners.length >= 1);
  for (const l of listeners) {
    assert.deepEqual(l.address.socket_address, { address: '::', port_value: l.address.socket_address.port_value, ipv4_compat: true }, l.name);
  }
  assert.equal(listeners.find((l) => l.name === 'inference')?.address.socket_address.port_value, 8081);
});

test('deploy/envoy/envoy.yaml: the EPP health check reaches the gRPC health port (9003) through Endpoint.health_check_config, not HealthCheck.alt_port (not implemented in Envoy v3)', () => {
  type LbEndpoint = { endpoint: { address: { socket_address: SocketAddress }; health_check_config?: { port_value?: number } } };
  type Cluster = { name: string; health_checks?: Record<string, unknown>[]; load_assignment?: { endpoints: { lb_endpoints: LbEndpoint[] }[] } };
  const clusters = (config as unknown as { static_resources: { clusters: Cluster[] } }).static_resources.clusters;
  const epp = clusters.find((c) => c.name === 'kvgate_epp');
  assert.ok(epp?.health_checks?.length, 'the EPP cluster is health-checked');
  // alt_port is "[#not-implemented-hide:]" in envoy.config.core.v3.HealthCheck: Envoy ignores it and checks the serving port, 9002, which has no health service.
  for (const h of epp.health_checks) assert.equal('alt_port' in h, false);
  for (const lb of epp.load_assignment!.endpoints.flatMap((e) => e.lb_endpoints)) {
    assert.equal(lb.endpoint.address.socket_address.port_value, 9002);
    assert.equal(lb.endpoint.health_check_config?.port_value, 9003);
  }
});
