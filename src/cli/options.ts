import { InvalidArgumentError, Option, type Command } from 'commander';
import { tokenizerArg } from './engine-args.js';
import { bytesArg, durationOption, intArg, listArg, numberArg, portArg, shapeArg } from './parse.js';
import { LOG_LEVELS } from '../shared/logger.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { PRIORITY_RULE, parsePriority } from '../router/priority.js';
import { MAX_SHAPE_COUNT, MAX_SHAPE_TOKENS, RANDOM_NUM_REQUESTS, SHAPE_KEYS, WORKLOAD_DEFAULTS, WORKLOADS, type ShapeKey, type WorkloadName } from '../bench/workloads.js';

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
  /** The EndpointPickerConfig YAML itself (epp's --config-text, as GIE's); empty = not given. */
  configText?: string;
  chatTemplate?: string[];
  debugScores: boolean;
}

/**
 * The config comes from one of an explicit --preset, --config-file and --config-text (epp only):
 * two together are an error naming both. An empty --config-text counts as not given, as the GIE
 * EPP reads it (cmd/epp/runner: `*configText != ""`).
 */
export async function resolveRouting(cmd: Command, o: RoutingValues) {
  const { loadConfig } = await import('../router/index.js');
  const { ChatTemplates } = await import('../router/prompt/chat-templates.js');
  const { KvgateError, ErrorCode } = await import('../shared/errors.js');
  const text = o.configText ? o.configText : undefined;
  const given = [cmd.getOptionValueSource('preset') === 'cli' ? '--preset' : undefined, o.configFile ? '--config-file' : undefined, text !== undefined ? '--config-text' : undefined].filter((f) => f !== undefined);
  if (given.length > 1) {
    const which = given.length === 2 ? `${given[0]} or ${given[1]}, not both` : `only one of ${given.join(', ')}`;
    throw new KvgateError(ErrorCode.InvalidConfig, `give ${which}`, { param: given[given.length - 1] });
  }
  await checkReadableFiles({ '--config-file': o.configFile });
  let config;
  try {
    config = loadConfig(o.configFile ? { file: o.configFile } : text !== undefined ? { text, textSource: '--config-text' } : { preset: o.preset });
  } catch (err) {
    // The loader names the file or preset and the path inside it; the flag it came from is said
    // here (--config-text's errors start with it already: it is the text's source).
    if (!(err instanceof KvgateError)) throw err;
    const flag = o.configFile ? '--config-file' : text !== undefined ? '--config-text' : '--preset';
    throw new KvgateError(err.code, flag === '--config-text' ? err.message : `${flag}: ${err.message}`, { param: flag });
  }
  return {
    config,
    chatTemplates: ChatTemplates.load(o.chatTemplate ?? []),
    debugScores: o.debugScores,
  };
}

/** `--default-priority`: a priority as the trusted header and `--objective` take it (router/priority.ts). */
function defaultPriorityArg(v: string): number {
  const n = parsePriority(v);
  if (n === undefined) throw new InvalidArgumentError(`--default-priority must be ${PRIORITY_RULE} (got "${v}")`);
  return n;
}

export function addObjectiveOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--trust-routing-headers', 'honour client priority / objective headers (x-gateway-inference-objective, x-kvgate-priority)').default(false))
    .addOption(new Option('--default-priority <n>', 'priority of requests without a trusted objective (negative = sheddable)').argParser(defaultPriorityArg).default(0))
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
  // A missing file or a directory is said with the flag, as --config-file's is.
  await checkReadableFiles({ '--objectives-file': o.objectivesFile });
  return {
    trustRoutingHeaders: o.trustRoutingHeaders,
    defaultPriority: o.defaultPriority,
    objectives: loadObjectives({ file: o.objectivesFile, args: o.objective, trustRoutingHeaders: o.trustRoutingHeaders }),
  };
}

export function addPoolOptions(cmd: Command): Command {
  cmd
    .addOption(new Option('--endpoints <list>', 'model servers: URLs or host:port, comma-separated or repeated').argParser(listArg))
    .addOption(new Option('--endpoints-file <file>', 'file of endpoints (YAML/JSON list or one per line), watched for changes'))
    .addOption(new Option('--pool-name <name>', 'discover the Ready pods of this InferencePool (Kubernetes)'))
    .addOption(new Option('--pool-namespace <ns>', 'namespace of the InferencePool (default: $NAMESPACE, else "default")'))
    .addOption(new Option('--pool-group <group>', 'API group of the InferencePool (default: inference.networking.k8s.io, falling back to the v1alpha2 group where only it has the pool)').choices(['inference.networking.k8s.io', 'inference.networking.x-k8s.io']))
    .addOption(new Option('--kubeconfig <file>', 'kubeconfig for --pool-name (default: $KUBECONFIG, else the in-cluster service account, else ~/.kube/config)'));
  return addProbeOptions(cmd);
}

/** How often endpoints are scraped and probed (serve, epp, up). */
export function addProbeOptions(cmd: Command): Command {
  return cmd
    .addOption(durationOption('--metrics-interval', 'scrape period of every endpoint\'s /metrics', 50, { minMs: 1 }))
    .addOption(durationOption('--health-interval', '/health and /v1/models probe period (0 = no probes)', 1000, { minMs: 1, zeroIsOff: true }));
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

/**
 * The InferencePool's name and namespace go into Kubernetes API paths
 * (`/apis/GROUP/VERSION/namespaces/NS/inferencepools`) and field selectors, so they are checked
 * as the API server names objects (apimachinery validation): a namespace is a DNS-1123 label
 * (≤ 63), an InferencePool's name a DNS-1123 subdomain (≤ 253). "Bad Name" or "a/b" was sent as
 * given and ended as a pool that never appears.
 */
function checkPoolNames(poolName: string, namespace: string, namespaceFrom: string): void {
  const label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  if (!subdomain.test(poolName) || poolName.length > 253) {
    throw new KvgateError(ErrorCode.InvalidConfig, `--pool-name "${poolName}" is not a Kubernetes object name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.'; ≤ 253 characters)`, { param: '--pool-name' });
  }
  if (!label.test(namespace) || namespace.length > 63) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${namespaceFrom} "${namespace}" is not a Kubernetes namespace (a DNS-1123 label: lower-case letters, digits, '-'; ≤ 63 characters)`, { param: '--pool-namespace' });
  }
}

/** Exactly one of --endpoints, --endpoints-file, --pool-name (the error names all three). */
export async function resolvePool(o: PoolValues) {
  const { parseEndpointList } = await import('../datalayer/sources/static-endpoints.js');
  const { KvgateError, ErrorCode } = await import('../shared/errors.js');
  if (!o.poolName && (o.poolNamespace !== undefined || o.poolGroup !== undefined || o.kubeconfig !== undefined)) {
    const given = o.poolNamespace !== undefined ? '--pool-namespace' : o.poolGroup !== undefined ? '--pool-group' : '--kubeconfig';
    throw new KvgateError(ErrorCode.InvalidConfig, `${given} applies to InferencePool discovery: give --pool-name too`, { param: given });
  }
  if ([o.endpoints, o.endpointsFile, o.poolName].filter(Boolean).length !== 1) {
    throw new KvgateError(ErrorCode.InvalidConfig, 'give exactly one of --endpoints, --endpoints-file or --pool-name');
  }
  // "kvgate: x.yaml: cannot read: ENOENT" named neither the flag nor the cause in words.
  await checkReadableFiles({ '--endpoints-file': o.endpointsFile });
  const namespace = o.poolName ? (o.poolNamespace ?? process.env.NAMESPACE ?? 'default') : undefined;
  if (o.poolName) checkPoolNames(o.poolName, namespace!, o.poolNamespace !== undefined ? '--pool-namespace' : '$NAMESPACE');
  let endpoints;
  try {
    endpoints = o.endpoints ? parseEndpointList(o.endpoints) : undefined;
  } catch (err) {
    // The parser names the entry; the flag it came from is said here.
    throw err instanceof KvgateError ? new KvgateError(err.code, `--endpoints: ${err.message}`, { param: '--endpoints' }) : err;
  }
  return {
    endpoints,
    endpointsFile: o.endpointsFile,
    kubernetes: o.poolName ? { poolName: o.poolName, namespace: namespace!, kubeconfig: o.kubeconfig, poolGroup: o.poolGroup } : undefined,
    poolName: o.poolName ?? 'kvgate',
    metricsIntervalMs: o.metricsInterval,
    healthIntervalMs: o.healthInterval,
  };
}

export function addRequestLimitOptions(cmd: Command, what: string): Command {
  return cmd
    .addOption(new Option('--max-body-bytes <bytes>', `request body limit: bytes, or with a unit (512KiB, 16MiB) (${what} above)`).argParser(bytesArg('--max-body-bytes', 1)).default(16 * 1024 * 1024, '16 MiB'))
    .addOption(new Option('--log-level <level>', 'log level (default: $KVGATE_LOG_LEVEL, else info)').choices(LOG_LEVELS));
}

export function addKvEventOptions(cmd: Command, opts: { tokenizer?: boolean } = {}): Command {
  cmd
    .addOption(new Option('--kv-events-port <port>', "engines' KV-event ZMQ PUB port (vLLM --kv-events-config endpoint tcp://*:PORT): subscribe to tcp://<endpoint-host>:PORT on every endpoint whose metadata (endpoints-file kvEventsPort, Pod annotation kvgate.io/kv-events-port) names none; default none").argParser(portArg('--kv-events-port', 1)))
    .addOption(new Option('--kv-events-replay-port <port>', "engines' KV-event replay (ROUTER) port (vLLM replay_endpoint), to refill sequence gaps; default none").argParser(portArg('--kv-events-replay-port', 1)))
    .addOption(new Option('--kv-events-bind <zmq>', "bind a ZMQ socket engines publish KV events to (llm-d's layout, e.g. tcp://*:5557; topic kv@<pod-ip>@<model>); default none"));
  if (opts.tokenizer !== false) cmd.addOption(new Option('--tokenizer <spec>', 'router-side tokenizer for precise prefix matching: estimate (kvgate sim\'s), qwen, or a path to tokenizer.json').argParser(tokenizerArg('--tokenizer')).default('estimate'));
  return cmd;
}

export interface KvEventValues {
  kvEventsPort?: number;
  kvEventsReplayPort?: number;
  kvEventsBind?: string;
  tokenizer?: string;
}

/**
 * The KV-event intake's settings: the flags, else what the config's precise plugins say (llm-d's
 * kvEventsConfig.zmqEndpoint / podDiscoveryConfig.socketPort / replaySocketPort / topicFilter),
 * and the router-side tokenizer (loaded here: a real one takes ~0.3 s).
 */
export async function resolveKvEvents(o: KvEventValues, config: import('../router/index.js').EffectiveConfig) {
  const { kvEventsSettings } = await import('../router/index.js');
  const fromConfig = kvEventsSettings(config);
  const kvEvents = {
    port: o.kvEventsPort ?? fromConfig.port,
    replayPort: o.kvEventsReplayPort ?? fromConfig.replayPort,
    bind: o.kvEventsBind ?? fromConfig.bind,
    topicFilter: fromConfig.topicFilter,
  };
  let tokenizer;
  if (o.tokenizer !== undefined && o.tokenizer !== 'estimate') {
    const { createRouterTokenizer } = await import('../shared/tokenizer/index.js');
    tokenizer = await createRouterTokenizer(o.tokenizer);
  }
  return { kvEvents, tokenizer };
}

/**
 * Flow control (serve, epp, up): the gateway queue in front of the replicas and what gates
 * dispatch from it (router/flowcontrol). Defaults are GIE's where it has one. `up` passes
 * `maxNumSeqs: false`: its own --max-num-seqs and --max-num-batched-tokens set the replicas'
 * engines (which report them).
 */
export function addFlowControlOptions(cmd: Command, opts: { maxNumSeqs?: boolean } = {}): Command {
  cmd
    .addOption(new Option('--no-flow-control', "flow control is on by default; this turns it off: no gateway queue, every request goes to a replica at once (GIE's legacy admission; sheddable requests still shed when saturated)"))
    .addOption(durationOption('--queue-timeout', 'longest a request waits in the gateway queue before 503 (429 if sheddable) rejected-ttl-expired; 0 = as long as the client waits', 60_000))
    .addOption(new Option('--max-queue-requests <n>', 'most requests waiting in the gateway queue (all priorities); over it 503, or 429 if sheddable').argParser(intArg('--max-queue-requests', 0)).default(5000))
    .addOption(new Option('--max-queue-bytes <bytes>', 'most request bytes waiting in the gateway queue: bytes, or with a unit (512MiB, 1GiB)').argParser(bytesArg('--max-queue-bytes', 0)).default(128 * 1024 * 1024, '128 MiB'));
  if (opts.maxNumSeqs !== false) {
    cmd
      .addOption(new Option('--max-num-seqs <n>', "vLLM max_num_seqs assumed for endpoints that do not report it (vLLM exports only its cache config); raised to the most requests an engine is seen running").argParser(intArg('--max-num-seqs', 1)).default(256))
      .addOption(new Option('--max-num-batched-tokens <n>', "vLLM max_num_batched_tokens (prefill tokens per engine step) assumed for endpoints that do not report it: requests sent since a scrape beyond it count as waiting in the engine; vLLM's default is 2048, 8192 on H100-class GPUs").argParser(intArg('--max-num-batched-tokens', 1)).default(2048));
  }
  cmd
    .addOption(new Option('--max-num-seqs-factor <x>', "per-endpoint concurrency cap = the endpoint's max_num_seqs × this (the engine's own queue holds the part above 1×)").argParser(numberArg('--max-num-seqs-factor', 0.01)).default(1.5))
    .addOption(new Option('--sheddable-max-fill <x>', "sheddable requests (negative priority) take only free batch slots, at most this share of an endpoint's max_num_seqs: the rest stays free for others").argParser(numberArg('--sheddable-max-fill', 0, 1)).default(0.9))
    .addOption(new Option('--no-evict-sheddable', 'eviction is on by default: a sheddable request already at a replica is ended (429 evicted-priority) when a request of higher priority needs its batch slot; this turns it off'))
    .addOption(durationOption('--saturation-ttft', 'with a TTFT-predicting scorer (the kvgate preset): an endpoint whose load adds this much to a request\'s predicted TTFT takes no more requests; 0 = off', 2000));
  return cmd;
}

export interface FlowControlValues {
  flowControl: boolean;
  queueTimeout: number;
  maxQueueRequests: number;
  maxQueueBytes: number;
  /** Absent (kvgate up: its --max-num-seqs configures the replicas): FlowControl's default. */
  maxNumSeqs?: number;
  /** Absent in kvgate up, as maxNumSeqs. */
  maxNumBatchedTokens?: number;
  maxNumSeqsFactor: number;
  sheddableMaxFill: number;
  evictSheddable: boolean;
  saturationTtft: number;
}

export function resolveFlowControl(o: FlowControlValues) {
  return {
    flowControl: {
      enabled: o.flowControl !== false,
      queueTimeoutMs: o.queueTimeout,
      maxQueueRequests: o.maxQueueRequests,
      maxQueueBytes: o.maxQueueBytes,
      defaultMaxNumSeqs: o.maxNumSeqs,
      defaultMaxNumBatchedTokens: o.maxNumBatchedTokens,
      maxNumSeqsFactor: o.maxNumSeqsFactor,
      sheddableMaxFill: o.sheddableMaxFill,
      evictSheddable: o.evictSheddable !== false,
      ttftThresholdMs: o.saturationTtft,
    },
  };
}

/** Timeouts and the memory bound of the HTTP gateway (serve, up); see gateway/timeouts.ts. */
export function addTimeoutOptions(cmd: Command): Command {
  const d = (flag: string, help: string, ms: number) => durationOption(flag, `${help}; 0 = none`, ms);
  return cmd
    .addOption(d('--request-headers-timeout', "a client's request headers must arrive within this (408)", 15_000))
    .addOption(d('--request-body-idle-timeout', 'longest pause between request body bytes (408, connection closed, buffer freed)', 10_000))
    .addOption(d('--request-body-timeout', 'the whole request body must arrive within this (408, connection closed, buffer freed)', 60_000))
    .addOption(d('--keep-alive-timeout', 'idle client connections close after this (keep it above your load balancer\'s idle timeout)', 65_000))
    .addOption(d('--upstream-connect-timeout', 'connecting to a model server (then the next endpoint is tried)', 5_000))
    .addOption(d('--upstream-first-byte-timeout', "a streamed request's response headers must come within this (then the next endpoint is tried)", 60_000))
    .addOption(d('--upstream-idle-timeout', 'longest pause in a response body: before its first byte the next endpoint is tried, after it an SSE error event ends the stream', 60_000))
    .addOption(d('--request-timeout', 'total deadline of a request from its arrival, queueing included (504, or an SSE error event once streaming)', 600_000))
    .addOption(new Option('--max-buffered-bytes <bytes>', 'request body bytes held in memory across all connections (bytes, or with a unit: 256MiB, 1GiB); over it 503 with Retry-After and nothing more is read').argParser(bytesArg('--max-buffered-bytes', 1)).default(256 * 1024 * 1024, '256 MiB'));
}

export interface TimeoutValues {
  requestHeadersTimeout: number;
  requestBodyIdleTimeout: number;
  requestBodyTimeout: number;
  keepAliveTimeout: number;
  upstreamConnectTimeout: number;
  upstreamFirstByteTimeout: number;
  upstreamIdleTimeout: number;
  requestTimeout: number;
  maxBufferedBytes: number;
}

/** An origin as browsers send it (scheme://host[:port]), or `*`. */
function originArg(v: string, prev: string[] = []): string[] {
  const items = listArg(v);
  for (const o of items) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/i.test(o)) throw new InvalidArgumentError(`"${o}" is not an origin: give scheme://host[:port] (e.g. https://app.example.com) or *`);
  }
  return [...prev, ...items];
}

/** CORS of the OpenAI gateway (serve, up): the origins browsers may call it from, as vLLM's --allowed-origins. */
export function addCorsOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--allowed-origins <origins>', 'origins browsers may call the gateway from (CORS, as vLLM): comma-separated scheme://host[:port], or * for any; preflights are answered before authentication (default: *)').argParser(originArg))
    .option('--no-cors', 'send no CORS headers and answer no preflight (browsers on other origins cannot call the gateway)');
}

export function resolveCors(o: { allowedOrigins?: string[]; cors?: boolean }): { allowedOrigins: string[] } {
  if (o.cors === false && o.allowedOrigins) throw new KvgateError(ErrorCode.InvalidConfig, '--allowed-origins and --no-cors contradict each other: give one', { param: 'allowed-origins' });
  return { allowedOrigins: o.cors === false ? [] : (o.allowedOrigins ?? ['*']) };
}

export function resolveTimeouts(o: TimeoutValues) {
  return {
    timeouts: {
      requestHeadersMs: o.requestHeadersTimeout,
      requestBodyIdleMs: o.requestBodyIdleTimeout,
      requestBodyMs: o.requestBodyTimeout,
      keepAliveMs: o.keepAliveTimeout,
      upstreamConnectMs: o.upstreamConnectTimeout,
      upstreamFirstByteMs: o.upstreamFirstByteTimeout,
      upstreamIdleMs: o.upstreamIdleTimeout,
      requestMs: o.requestTimeout,
    },
    maxBufferedBytes: o.maxBufferedBytes,
  };
}

/**
 * Each given file flag names a readable file, else a KvgateError naming the flag and why
 * ("--tls-cert: cannot read /x.pem: no such file"), before anything starts. A command's file
 * argument is keyed by the command instead ("config check: cannot read /x.yaml: no such file").
 */
export async function checkReadableFiles(files: Record<string, string | undefined>): Promise<void> {
  const { accessSync, statSync, constants } = await import('node:fs');
  const { KvgateError, ErrorCode } = await import('../shared/errors.js');
  for (const [flag, path] of Object.entries(files)) {
    if (path === undefined) continue;
    let why: string | undefined;
    try {
      accessSync(path, constants.R_OK);
      if (statSync(path).isDirectory()) why = 'it is a directory';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    }
    if (why) throw new KvgateError(ErrorCode.InvalidConfig, `${flag}: cannot read ${path}: ${why}`, { param: flag });
  }
}

/**
 * Each given output-file flag names a path that can be written, else a KvgateError naming the
 * flag and why ("--out: cannot write /x/o.json: no such directory /x"), checked before a run
 * whose result would only be lost at the end. Nothing is created here.
 */
export async function checkWritableFiles(files: Record<string, string | undefined>): Promise<void> {
  const { accessSync, statSync, constants } = await import('node:fs');
  const { dirname, resolve } = await import('node:path');
  const { KvgateError, ErrorCode } = await import('../shared/errors.js');
  const why = (err: unknown, what: string) => {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `no such directory ${what}` : code === 'EACCES' ? `permission denied in ${what}` : code === 'ENOTDIR' ? `${what} is not a directory` : (err as Error).message;
  };
  for (const [flag, path] of Object.entries(files)) {
    if (path === undefined) continue;
    let reason: string | undefined;
    let exists = true;
    try {
      if (statSync(path).isDirectory()) reason = 'it is a directory';
      else accessSync(path, constants.W_OK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') exists = false;
      else reason = (err as NodeJS.ErrnoException).code === 'EACCES' ? 'permission denied' : why(err, dirname(resolve(path)));
    }
    if (!exists) {
      const dir = dirname(resolve(path));
      try {
        if (!statSync(dir).isDirectory()) reason = `${dir} is not a directory`;
        else accessSync(dir, constants.W_OK);
      } catch (err) {
        reason = why(err, dir);
      }
    }
    if (reason) throw new KvgateError(ErrorCode.InvalidConfig, `${flag}: cannot write ${path}: ${reason}`, { param: flag });
  }
}

/** "--num-groups" for commander's attribute name "numGroups". */
const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** Where a flag's default comes from, per source of requests, for --help: "shared-prefix 10, generated-shared-prefix 64", or one value when all agree. */
function shapeDefaults(key: ShapeKey, o: { prompt: boolean }): string {
  const per = Object.entries(WORKLOAD_DEFAULTS).flatMap(([w, d]) => {
    const v = d[key];
    if (v === undefined) return [];
    return w === 'dataset' ? [['--dataset lines without max_tokens', v], ...(o.prompt ? [['--prompt', v]] : [])] : [[w, v]];
  });
  return new Set(per.map(([, v]) => v)).size === 1 ? `(default: ${per[0][1]})` : `(default: ${per.map(([w, v]) => `${w} ${v}`).join(', ')})`;
}

/**
 * What --num-requests defaults to, per source of requests, for --help: a workload's own size
 * (prefix-repetition, random and decode-heavy are sized by --num-requests itself).
 */
export function numRequestsDefaults(o: { prompt: boolean }): string {
  const size = (w: WorkloadName): number => {
    const d = WORKLOAD_DEFAULTS[w];
    if (d.numGroups !== undefined) return (d.numGroups as number) * (d.promptsPerGroup as number);
    if (d.numConversations !== undefined) return (d.numConversations as number) * (d.turns as number);
    return RANDOM_NUM_REQUESTS;
  };
  return `(default: the workload's size: ${WORKLOADS.map((w) => `${w} ${size(w)}`).join(', ')}; a --dataset's lines; a whole --trace${o.prompt ? '; 20 with --prompt, --serial or --parallel' : ''})`;
}

/**
 * Refuses a workload-shape flag given on the command line that the chosen source of requests
 * does not read (WORKLOAD_DEFAULTS): it would be silently ignored, and the run would measure
 * another workload than the one asked for. Likewise --time-scale and --trace-window without
 * --trace. `given(key)`: the user set it on the command line (commander's attribute name).
 */
export function refuseUnusedWorkloadFlags(given: (key: string) => boolean, o: { workload: string; dataset?: string; trace?: string; prompt?: string }): void {
  for (const key of ['timeScale', 'traceWindow']) {
    if (!o.trace && given(key)) throw new KvgateError(ErrorCode.InvalidConfig, `${flagOf(key)} applies to --trace replays only: drop it, or give --trace FILE`, { param: flagOf(key).slice(2) });
  }
  const source: keyof typeof WORKLOAD_DEFAULTS = o.trace ? 'trace' : o.dataset || o.prompt !== undefined ? 'dataset' : (o.workload as WorkloadName);
  const reads = WORKLOAD_DEFAULTS[source];
  if (!reads) return; // an unknown --workload: commander's choices() has refused it
  const unused = SHAPE_KEYS.find((k) => given(k) && reads[k] === undefined);
  if (!unused) return;
  const flag = flagOf(unused);
  const what = o.trace ? '--trace (a trace brings its own requests and lengths)' : o.dataset ? '--dataset (its lines are the requests)' : o.prompt !== undefined ? '--prompt (one prompt, sent every time)' : `--workload ${o.workload}${given('workload') ? '' : ' (the default)'}`;
  const users = Object.entries(WORKLOAD_DEFAULTS).filter(([w, d]) => w !== 'trace' && d[unused] !== undefined).map(([w]) => (w === 'dataset' ? (o.prompt !== undefined ? '--dataset and --prompt' : '--dataset') : w));
  const named = users.filter((u) => !u.startsWith('--'));
  const shapes = [named.length ? `--workload ${named.join(', ')}` : '', ...users.filter((u) => u.startsWith('--'))].filter(Boolean).join(' and ');
  throw new KvgateError(ErrorCode.InvalidConfig, `${flag} does not apply to ${what}: it shapes ${shapes}; drop it or choose one of those`, { param: flag.slice(2) });
}

/**
 * The synthetic workloads' shape (as inference-perf names them), shared by `kvgate bench` and
 * `kvgate simulate` so one workload runs the same in real and in virtual time
 * (src/bench/workloads.ts reads them).
 */
export function addWorkloadShapeOptions(cmd: Command, o: { prompt?: boolean } = {}): Command {
  const d = (key: ShapeKey) => shapeDefaults(key, { prompt: o.prompt ?? false });
  // Each flag's limit (MAX_SHAPE_TOKENS for lengths, MAX_SHAPE_COUNT for counts) in its help, as --num-requests states its own.
  const tokens = `at most ${MAX_SHAPE_TOKENS.toLocaleString('en-US')} tokens`;
  const count = `at most ${MAX_SHAPE_COUNT.toLocaleString('en-US')}`;
  return cmd
    .option('--num-groups <n>', `shared-prefix, generated-shared-prefix: groups, each with its own system prompt; ${count} ${d('numGroups')}`, shapeArg('--num-groups', 'count'))
    .option('--prompts-per-group <n>', `shared-prefix, generated-shared-prefix: prompts per group; ${count} ${d('promptsPerGroup')}`, shapeArg('--prompts-per-group', 'count'))
    .option('--system-prompt-len <tokens>', `shared system prompt length, ${tokens} ${d('systemPromptLen')}`, shapeArg('--system-prompt-len', 'tokens'))
    .option('--question-len <tokens>', `question (user message) length, ${tokens} ${d('questionLen')}`, shapeArg('--question-len', 'tokens'))
    .option('--output-len <tokens>', `output tokens per request (ignore_eos); ${tokens} ${d('outputLen')}`, shapeArg('--output-len', 'tokens'))
    .option('--multi-turn', 'shared-prefix, generated-shared-prefix: groups become conversations', false)
    .option('--prefix-len <tokens>', `prefix-repetition: prefix length, ${tokens} ${d('prefixLen')}`, shapeArg('--prefix-len', 'tokens'))
    .option('--suffix-len <tokens>', `prefix-repetition: suffix length, ${tokens} ${d('suffixLen')}`, shapeArg('--suffix-len', 'tokens'))
    .option('--num-prefixes <n>', `prefix-repetition: distinct prefixes; ${count} ${d('numPrefixes')}`, shapeArg('--num-prefixes', 'count'))
    .option('--input-len <tokens>', `random, decode-heavy: prompt length, ${tokens} ${d('inputLen')}`, shapeArg('--input-len', 'tokens'))
    .option('--num-conversations <n>', `multi-turn: conversations; ${count} ${d('numConversations')}`, shapeArg('--num-conversations', 'count'))
    .option('--turns <n>', `multi-turn: turns per conversation; ${count} ${d('turns')}`, shapeArg('--turns', 'count'))
    .addHelpText('after', '\nWorkload flags apply to the workloads they name, with a default per workload; one that the chosen\nworkload (or --dataset, or --trace) does not read is an error.');
}
