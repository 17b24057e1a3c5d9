import { Option, type Command } from 'commander';
import { durationArg, intArg, listArg } from './parse.js';

/**
 * Option groups that several commands take, defined once so names, defaults, units and conflict
 * rules agree everywhere (`serve`, `epp`, `up`). Each `add…` puts the flags on a command; each
 * `resolve…` turns the parsed values into what the runtime takes, throwing a KvgateError that
 * names the flags on a conflict.
 */

/** The routing policy every command defaults to (the README's and docs' "kvgate" preset). */
export const DEFAULT_PRESET = 'kvgate';

export function addRoutingOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--preset <name>', 'routing preset (see `kvgate config presets`)').default(DEFAULT_PRESET))
    .addOption(new Option('--config-file <file>', 'EndpointPickerConfig YAML, instead of --preset'))
    .addOption(new Option('--chat-template <[model=]path>', "a model's tokenizer_config.json (or its directory, or a .jinja file) whose chat template renders chat prompts for prefix matching; repeatable; default: canonical ChatML").argParser(listArg))
    .addOption(new Option('--debug-scores', "add x-kvgate-scores (every candidate's per-scorer scores) to responses").default(false));
}

export interface RoutingValues {
  preset: string;
  configFile?: string;
  chatTemplate?: string[];
  debugScores: boolean;
}

/** The one conflict rule: an explicit --preset and --config-file together are an error. */
export async function resolveRouting(cmd: Command, o: RoutingValues) {
  const { loadConfig } = await import('../router/index.js');
  const { ChatTemplates } = await import('../router/prompt/chat-templates.js');
  const { KvgateError, ErrorCode } = await import('../shared/errors.js');
  if (o.configFile && cmd.getOptionValueSource('preset') === 'cli') {
    throw new KvgateError(ErrorCode.InvalidConfig, 'give --preset or --config-file, not both');
  }
  return {
    config: loadConfig(o.configFile ? { file: o.configFile } : { preset: o.preset }),
    chatTemplates: ChatTemplates.load(o.chatTemplate ?? []),
    debugScores: o.debugScores,
  };
}

export function addObjectiveOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--trust-routing-headers', 'honour client priority / objective headers (x-gateway-inference-objective, x-kvgate-priority)').default(false))
    .addOption(new Option('--default-priority <n>', 'priority of requests without a trusted objective (negative = sheddable)').argParser((v) => Number(v)).default(0))
    .addOption(new Option('--objective <name=priority>', 'an InferenceObjective for x-gateway-inference-objective; repeatable; needs --trust-routing-headers').argParser(listArg))
    .addOption(new Option('--objectives-file <file>', 'InferenceObjective manifests (YAML, spec.priority)'));
}

export interface ObjectiveValues {
  trustRoutingHeaders: boolean;
  defaultPriority: number;
  objective?: string[];
  objectivesFile?: string;
}

export async function resolveObjectives(o: ObjectiveValues) {
  const { loadObjectives } = await import('../router/objectives.js');
  return {
    trustRoutingHeaders: o.trustRoutingHeaders,
    defaultPriority: o.defaultPriority,
    objectives: loadObjectives({ file: o.objectivesFile, args: o.objective, trustRoutingHeaders: o.trustRoutingHeaders }),
  };
}

export function addPoolOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--endpoints <list>', 'model servers: URLs or host:port, comma-separated or repeated').argParser(listArg))
    .addOption(new Option('--endpoints-file <file>', 'file of endpoints (YAML/JSON list or one per line), watched for changes'))
    .addOption(new Option('--pool-name <name>', 'discover the Ready pods of this InferencePool (Kubernetes)'))
    .addOption(new Option('--pool-namespace <ns>', 'namespace of the InferencePool (default: $NAMESPACE, else "default")'))
    .addOption(new Option('--pool-group <group>', 'API group of the InferencePool (default: inference.networking.k8s.io, falling back to the v1alpha2 group where only it has the pool)').choices(['inference.networking.k8s.io', 'inference.networking.x-k8s.io']))
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig for --pool-name (default: $KUBECONFIG, else the in-cluster service account, else ~/.kube/config)'))
    .addOption(new Option('--metrics-interval <duration>', 'scrape period of every endpoint\'s /metrics').argParser(durationArg('--metrics-interval')).default(50, '50ms'))
    .addOption(new Option('--health-interval <duration>', 'active /health and /v1/models probe period (0 = no active probes)').argParser(durationArg('--health-interval')).default(1000, '1s'));
}

export interface PoolValues {
  endpoints?: string[];
  endpointsFile?: string;
  poolName?: string;
  poolNamespace?: string;
  poolGroup?: 'inference.networking.k8s.io' | 'inference.networking.x-k8s.io';
  kubeconfig?: string;
  metricsInterval: number;
  healthInterval: number;
}

/** Exactly one of --endpoints, --endpoints-file, --pool-name (the error names all three). */
export async function resolvePool(o: PoolValues) {
  const { parseEndpointList } = await import('../datalayer/sources/static-endpoints.js');
  const { KvgateError, ErrorCode } = await import('../shared/errors.js');
  if ([o.endpoints, o.endpointsFile, o.poolName].filter(Boolean).length !== 1) {
    throw new KvgateError(ErrorCode.InvalidConfig, 'give exactly one of --endpoints, --endpoints-file or --pool-name');
  }
  return {
    endpoints: o.endpoints ? parseEndpointList(o.endpoints) : undefined,
    endpointsFile: o.endpointsFile,
    kubernetes: o.poolName ? { poolName: o.poolName, namespace: o.poolNamespace ?? process.env.NAMESPACE ?? 'default', kubeconfig: o.kubeconfig, poolGroup: o.poolGroup } : undefined,
    poolName: o.poolName ?? 'kvgate',
    metricsIntervalMs: o.metricsInterval,
    healthIntervalMs: o.healthInterval,
  };
}

export function addRequestLimitOptions(cmd: Command, what: string): Command {
  return cmd
    .addOption(new Option('--max-body-bytes <bytes>', `request body limit in bytes (${what} above)`).argParser(intArg('--max-body-bytes', 1)).default(16 * 1024 * 1024, '16 MiB'))
    .addOption(new Option('--log-level <level>', 'pino log level: fatal, error, warn, info, debug, trace, silent').default('info'));
}
