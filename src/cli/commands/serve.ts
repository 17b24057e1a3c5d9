import { Command } from 'commander';
import { intArg, listArg, durationArg, waitForSignal } from '../parse.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('Run the OpenAI-compatible cache-aware gateway in front of vLLM (or compatible) endpoints')
    .option('--endpoints <list>', 'model servers: URL or host:port, comma-separated or repeated', listArg)
    .option('--endpoints-file <file>', 'file of endpoints (YAML/JSON list or one per line), watched for changes')
    .option('--preset <name>', 'routing preset (kvgate config presets)')
    .option('--config-file <file>', 'EndpointPickerConfig YAML')
    .option('--port <n>', 'listen port (0 = any free port)', intArg('--port'), 8080)
    .option('--host <addr>', 'listen address', '127.0.0.1')
    .option('--api-key <key>', 'require this bearer key (repeatable; also KVGATE_API_KEYS, comma-separated)', listArg)
    .option('--trust-routing-headers', 'honour client priority / objective headers', false)
    .option('--default-priority <n>', 'priority of requests without a trusted objective', (v) => Number(v), 0)
    .option('--objective <name=priority>', 'an InferenceObjective for x-gateway-inference-objective (repeatable; needs --trust-routing-headers)', listArg)
    .option('--objectives-file <file>', 'InferenceObjective manifests (YAML) naming priorities')
    .option('--debug-scores', 'add x-kvgate-scores with every endpoint\'s scores to responses', false)
    .option('--max-body-bytes <n>', 'request body limit (413 above)', intArg('--max-body-bytes', 1), 16 * 1024 * 1024)
    .option('--max-attempts <n>', 'endpoints tried per request before failing', intArg('--max-attempts', 1), 3)
    .option('--health-interval <d>', 'active /health probe period', durationArg('--health-interval'), 1000)
    .option('--tls-cert <file>', 'serve HTTPS with this certificate')
    .option('--tls-key <file>', 'private key of --tls-cert')
    .option('--tls-client-ca <file>', 'require client certificates signed by this CA (mTLS)')
    .option('--upstream-ca <file>', 'CA bundle for HTTPS upstreams')
    .option('--upstream-cert <file>', 'client certificate for upstream mTLS')
    .option('--upstream-key <file>', 'client key for upstream mTLS')
    .option('--drain-settle <d>', 'after SIGTERM, report not-ready this long before closing', durationArg('--drain-settle'), 1000)
    .option('--drain-timeout <d>', 'longest wait for in-flight requests on shutdown', durationArg('--drain-timeout'), 30_000)
    .option('--no-access-log', 'do not log one JSON line per request')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o) => {
      const { loadConfig } = await import('../../router/index.js');
      const { parseEndpointList } = await import('../../datalayer/sources/static-endpoints.js');
      const { startGateway } = await import('../../gateway/server.js');
      const { createLogger } = await import('../../shared/logger.js');
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      const { loadObjectives } = await import('../../router/objectives.js');
      const objectives = loadObjectives({ file: o.objectivesFile, args: o.objective, trustRoutingHeaders: o.trustRoutingHeaders });
      if (!o.endpoints && !o.endpointsFile) throw new KvgateError(ErrorCode.InvalidConfig, 'give --endpoints or --endpoints-file');
      if (o.preset && o.configFile) throw new KvgateError(ErrorCode.InvalidConfig, 'give --preset or --config-file, not both');
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new KvgateError(ErrorCode.InvalidConfig, '--tls-cert and --tls-key go together');
      const logger = createLogger('gateway', { level: o.logLevel });
      const keys = [...(o.apiKey ?? []), ...(process.env.KVGATE_API_KEYS ?? '').split(',').filter(Boolean)];
      const gw = await startGateway({
        host: o.host,
        port: o.port,
        config: loadConfig(o.configFile ? { file: o.configFile } : { preset: o.preset ?? 'kvgate' }),
        endpoints: o.endpoints ? parseEndpointList(o.endpoints) : undefined,
        endpointsFile: o.endpointsFile,
        apiKeys: keys,
        trustRoutingHeaders: o.trustRoutingHeaders,
        defaultPriority: o.defaultPriority,
        objectives,
        debugScores: o.debugScores,
        maxBodyBytes: o.maxBodyBytes,
        maxAttempts: o.maxAttempts,
        healthIntervalMs: o.healthInterval,
        accessLog: o.accessLog,
        tls: o.tlsCert ? { cert: o.tlsCert, key: o.tlsKey, clientCa: o.tlsClientCa } : undefined,
        upstreamTls: o.upstreamCa || o.upstreamCert ? { ca: o.upstreamCa, cert: o.upstreamCert, key: o.upstreamKey } : undefined,
        drainSettleMs: o.drainSettle,
        drainTimeoutMs: o.drainTimeout,
        logger,
      });
      process.stdout.write(`kvgate serve listening on ${gw.url} (${gw.router.config.source}, ${gw.router.datastore.list().length} endpoints)\n`);
      const sig = await waitForSignal();
      logger.info({ signal: sig }, 'draining');
      await gw.drain();
    });
}
