import { Command, Option } from 'commander';
import { intArg, listArg, waitForSignal } from '../parse.js';

function bool(name: string) {
  return (v: string): boolean => {
    if (v === 'true' || v === '1') return true;
    if (v === 'false' || v === '0') return false;
    throw new Error(`${name} must be true or false (got "${v}")`);
  };
}

export function registerEpp(program: Command): void {
  program
    .command('epp')
    .description('Run the Envoy ext_proc endpoint picker (drop-in for the GIE / llm-d EPP behind Envoy or Istio)')
    .option('--grpc-port <n>', 'ext_proc gRPC port', intArg('--grpc-port'), 9002)
    .option('--grpc-health-port <n>', 'gRPC health port (liveness, readiness, ext_proc)', intArg('--grpc-health-port'), 9003)
    .option('--metrics-port <n>', 'Prometheus /metrics port', intArg('--metrics-port'), 9090)
    .option('--host <addr>', 'listen address', '0.0.0.0')
    .option('--secure-serving <bool>', 'TLS on the ext_proc port (self-signed unless --cert-path)', bool('--secure-serving'), true)
    .option('--cert-path <dir>', 'directory with tls.crt and tls.key')
    .option('--endpoints <list>', 'model servers: ip:port or URLs, comma-separated or repeated', listArg)
    .option('--endpoints-file <file>', 'file of endpoints, watched for changes')
    .option('--pool-name <name>', 'discover the Ready pods of this InferencePool (Kubernetes)')
    .option('--pool-namespace <ns>', 'namespace of the InferencePool (default: $NAMESPACE or default)')
    .addOption(new Option('--pool-group <group>', 'API group of the InferencePool (default: inference.networking.k8s.io, falling back to the v1alpha2 group)').choices(['inference.networking.k8s.io', 'inference.networking.x-k8s.io']))
    .option('--kubeconfig <file>', 'kubeconfig for --pool-name (default: $KUBECONFIG, then the pod\'s service account, then ~/.kube/config)')
    .option('--preset <name>', 'routing preset (kvgate config presets)')
    .option('--config-file <file>', 'EndpointPickerConfig YAML')
    .option('--max-body-bytes <n>', 'request body limit (ImmediateResponse 413 above)', intArg('--max-body-bytes', 1), 16 * 1024 * 1024)
    .option('--trust-routing-headers', 'honour priority / objective headers from clients', false)
    .option('--objective <name=priority>', 'an InferenceObjective for x-gateway-inference-objective (repeatable; needs --trust-routing-headers)', listArg)
    .option('--objectives-file <file>', 'InferenceObjective manifests (YAML) naming priorities')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (o) => {
      const { loadConfig } = await import('../../router/index.js');
      const { parseEndpointList } = await import('../../datalayer/sources/static-endpoints.js');
      const { startEppServer } = await import('../../extproc/server.js');
      const { certificateFromDir } = await import('../../extproc/self-signed.js');
      const { createLogger } = await import('../../shared/logger.js');
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      const { loadObjectives } = await import('../../router/objectives.js');
      const staticObjectives = loadObjectives({ file: o.objectivesFile, args: o.objective, trustRoutingHeaders: o.trustRoutingHeaders });
      if ([o.endpoints, o.endpointsFile, o.poolName].filter(Boolean).length !== 1) throw new KvgateError(ErrorCode.InvalidConfig, 'give exactly one of --endpoints, --endpoints-file or --pool-name');
      const logger = createLogger('epp', { level: o.logLevel });
      const poolNamespace = o.poolNamespace ?? process.env.NAMESPACE ?? 'default';
      // With an InferencePool, its InferenceObjectives (CRs) feed the objective → priority map too.
      let objectiveWatcher: import('../../datalayer/sources/inference-objectives.js').InferenceObjectiveWatcher | undefined;
      if (o.poolName) {
        const { InferenceObjectiveWatcher } = await import('../../datalayer/sources/inference-objectives.js');
        objectiveWatcher = new InferenceObjectiveWatcher({ poolName: o.poolName, namespace: poolNamespace, kubeconfig: o.kubeconfig, base: staticObjectives, logger });
        objectiveWatcher.start();
        if (!o.trustRoutingHeaders) logger.warn('InferenceObjectives are watched, but x-gateway-inference-objective is ignored without --trust-routing-headers');
      }
      const objectives = objectiveWatcher?.objectives ?? staticObjectives;
      const epp = await startEppServer({
        host: o.host,
        grpcPort: o.grpcPort,
        grpcHealthPort: o.grpcHealthPort,
        metricsPort: o.metricsPort,
        config: loadConfig(o.configFile ? { file: o.configFile } : { preset: o.preset ?? 'gie-default' }),
        endpoints: o.endpoints ? parseEndpointList(o.endpoints) : undefined,
        endpointsFile: o.endpointsFile,
        kubernetes: o.poolName ? { poolName: o.poolName, namespace: poolNamespace, kubeconfig: o.kubeconfig, poolGroup: o.poolGroup } : undefined,
        secureServing: o.secureServing,
        tls: o.certPath ? certificateFromDir(o.certPath) : undefined,
        maxBodyBytes: o.maxBodyBytes,
        trustRoutingHeaders: o.trustRoutingHeaders,
        objectives,
        poolName: o.poolName ?? 'kvgate',
        logger,
      }).catch(async (err: unknown) => {
        await objectiveWatcher?.stop();
        throw err;
      });
      process.stdout.write(`kvgate epp ready: ext_proc ${o.host}:${epp.grpcPort} (${o.secureServing ? 'TLS' : 'plaintext'}), health ${epp.grpcHealthPort}, metrics ${epp.metricsPort}, ${epp.router.datastore.list().length} endpoints\n`);
      await waitForSignal();
      await objectiveWatcher?.stop();
      await epp.close();
    });
}
