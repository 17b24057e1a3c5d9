import type { pino } from 'pino';
import type { RunningSim } from '../../src/sim/server.js';
import { startGateway } from '../../src/gateway/server.js';
import { startEppServer } from '../../src/extproc/server.js';
import { loadConfig, type EffectiveConfig } from '../../src/router/index.js';
import { parseEndpoint } from '../../src/datalayer/sources/static-endpoints.js';
import { EnvoyLikeClient } from '../extproc/client.js';
import { throughEnvoy } from './envoy-harness.js';
import { waitFor } from '../gateway/helpers.js';

/**
 * The gateway and the EPP (with an Envoy-playing client) in front of the same replicas, both with
 * the kvgate preset, resolved once both know the replicas' models. `envoy(path, body)` sends one
 * request through the EPP and proxies it to the replica it picked (envoy-harness.ts).
 * `eppConfig` replaces the EPP's config (e.g. a picker with maxNumOfEndpoints: 2).
 */
export async function bothIngresses(sims: Pick<RunningSim, 'url'>[], opts: { logger?: pino.Logger; /** The EPP's, with its access log on. */ eppLogger?: pino.Logger; eppConfig?: EffectiveConfig } = {}) {
  const endpoints = sims.map((s) => parseEndpoint(s.url));
  const urls = new Map(endpoints.map((e) => [e.id, e.url]));
  const gw = await startGateway({ port: 0, config: loadConfig({ preset: 'kvgate' }), endpoints, healthIntervalMs: 100, logger: opts.logger });
  const epp = await startEppServer({ host: '127.0.0.1', grpcPort: 0, grpcHealthPort: 0, metricsPort: 0, secureServing: false, config: opts.eppConfig ?? loadConfig({ preset: 'kvgate' }), endpoints, healthIntervalMs: 100, ...(opts.eppLogger ? { logger: opts.eppLogger, accessLog: true } : {}) });
  const client = new EnvoyLikeClient(epp.grpcPort);
  await waitFor(() => [gw.router, epp.router].every((r) => r.datastore.list().every((e) => e.models !== undefined)));
  return {
    gw,
    epp,
    /** The EPP's /metrics URL. */
    eppMetricsUrl: `http://127.0.0.1:${epp.metricsPort}/metrics`,
    envoy: (path: string, body: unknown, headers: Record<string, string> = {}, subset?: string[]) => throughEnvoy(client, { path, body: JSON.stringify(body), headers, subset }, (id) => urls.get(id)!),
    async close() {
      client.close();
      await gw.close();
      await epp.close();
    },
  };
}
