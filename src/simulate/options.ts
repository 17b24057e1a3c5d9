import { KvgateError, ErrorCode } from '../shared/errors.js';
import { shortestPrompt, type WorkloadOptions } from '../bench/workloads.js';
import { contextLengthError } from '../shared/context-length.js';
import { checkFleetSize, parseFleetSpec, type ReplicaGroup } from './fleet.js';
import { resolvePolicies, DEFAULT_PATH, type SimulateOptions } from './simulate.js';
import { parseSlo, type Slo } from './slo.js';
import { listProfiles, loadProfile } from '../engine/index.js';
import { parseStages, refuseOverlongLoad } from '../bench/specs.js';
import { refuseSeedSpan } from '../shared/seed.js';

export { parseStages }; // kvgate bench parses --stages with it too

/** The workload flags, named as kvgate bench names them (addWorkloadShapeOptions). */
type WorkloadFlags = Pick<WorkloadOptions, 'workload' | 'dataset' | 'numGroups' | 'promptsPerGroup' | 'systemPromptLen' | 'questionLen' | 'outputLen' | 'multiTurn' | 'prefixLen' | 'suffixLen' | 'numPrefixes' | 'inputLen' | 'numConversations' | 'turns' | 'numRequests'>;

/** The flags `kvgate simulate` (and `simulate plan`) take, as commander hands them over. */
export interface SimulateFlags extends WorkloadFlags {
  replicas: number;
  profile: string;
  fleet?: string;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  blockSize?: number;
  kvCacheSize?: number;
  maxModelLen?: number;
  enablePrefixCaching?: boolean;
  preset: string;
  configFile?: string;
  compare?: string[];
  trace?: string;
  timeScale: number;
  traceWindow: number;
  stages?: string;
  rate?: number;
  duration: number;
  concurrency: number;
  seed: number;
  metricsInterval: number;
  scrapeLatency: number;
  networkLatency: number;
  gatewayOverhead: number;
  tokenizeRate: number;
  /** commander's `--no-kv-events`: true unless given. */
  kvEvents: boolean;
  kvEventLatency: number;
  /** commander's `--no-flow-control`: true unless given. */
  flowControl: boolean;
  slo?: string;
}

/** The CLI's defaults (what `kvgate simulate` runs when a flag is not given). */
export const DEFAULT_FLAGS: SimulateFlags = {
  replicas: 3,
  profile: 'qwen2.5-3b-tpu-v6e',
  preset: 'kvgate',
  workload: 'shared-prefix',
  timeScale: 1,
  traceWindow: 60_000,
  duration: 30_000,
  concurrency: 10,
  seed: 1,
  metricsInterval: DEFAULT_PATH.metricsIntervalMs,
  scrapeLatency: DEFAULT_PATH.scrapeLatencyMs,
  networkLatency: DEFAULT_PATH.networkLatencyMs,
  gatewayOverhead: DEFAULT_PATH.gatewayOverheadMs,
  tokenizeRate: DEFAULT_PATH.tokenizeTokensPerMs,
  kvEvents: DEFAULT_PATH.kvEvents,
  kvEventLatency: DEFAULT_PATH.kvEventLatencyMs,
  flowControl: DEFAULT_PATH.flowControl,
};


export function fleetOf(f: SimulateFlags): ReplicaGroup[] {
  const engine = {
    maxNumSeqs: f.maxNumSeqs,
    maxNumBatchedTokens: f.maxNumBatchedTokens,
    blockSize: f.blockSize,
    kvCacheSize: f.kvCacheSize,
    maxModelLen: f.maxModelLen,
    enablePrefixCaching: f.enablePrefixCaching === false ? false : undefined,
  };
  const defined = Object.fromEntries(Object.entries(engine).filter(([, v]) => v !== undefined));
  const groups = f.fleet ? parseFleetSpec(f.fleet, defined) : [{ count: f.replicas, profile: f.profile, ...defined }];
  // An unknown profile is a bad flag: name it (the engine's own message names only the profile).
  const known = listProfiles();
  for (const g of groups) {
    if (!known.includes(g.profile)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `${f.fleet ? '--fleet' : '--profile'}: unknown profile "${g.profile}" (available: ${known.join(', ')})`, { param: f.fleet ? 'fleet' : 'profile' });
    }
  }
  checkFleetSize(groups, f.fleet ? '--fleet' : '--replicas');
  // buildFleet seeds replica i with seed + i.
  refuseSeedSpan(f.seed, groups.reduce((n, g) => n + g.count, 0), f.fleet ? '--fleet' : '--replicas');
  return groups;
}

/** `--slo`, parsed; an empty one is an error rather than no SLO (it was taken for none, or crashed plan). */
export function sloOf(text: string | undefined): Slo | undefined {
  if (text === undefined) return undefined;
  const slo = parseSlo(text);
  if (slo.percentiles.length === 0 && Object.keys(slo.request).length === 0) {
    throw new KvgateError(ErrorCode.InvalidConfig, `--slo is empty (got "${text}"): give targets such as ttft_p90=2s,tpot_p90=50ms or ttft=500,tpot=50`, { param: 'slo' });
  }
  return slo;
}

export function workloadOptionsOf(f: SimulateFlags): WorkloadOptions {
  return {
    workload: f.dataset ? 'dataset' : f.workload,
    dataset: f.dataset,
    seed: f.seed,
    numRequests: f.numRequests,
    numGroups: f.numGroups,
    promptsPerGroup: f.promptsPerGroup,
    systemPromptLen: f.systemPromptLen,
    questionLen: f.questionLen,
    outputLen: f.outputLen,
    multiTurn: f.multiTurn,
    prefixLen: f.prefixLen,
    suffixLen: f.suffixLen,
    numPrefixes: f.numPrefixes,
    inputLen: f.inputLen,
    numConversations: f.numConversations,
    turns: f.turns,
  };
}

/**
 * A synthetic workload whose shortest prompt (shortestPrompt) fits no replica is refused before
 * the run: every request would be answered 400 after the run had started. The rule is the
 * replicas' own (vLLM's, src/shared/context-length.ts): prompt < max_model_len and prompt +
 * max_tokens ≤ max_model_len, against the largest max_model_len of the fleet (the router sends a
 * request where it fits). Datasets and traces keep their per-request 400s: their prompts vary.
 */
function refusePromptsPastContext(groups: ReplicaGroup[], workload: WorkloadOptions, fleetFlag: boolean): void {
  const shortest = shortestPrompt(workload);
  if (!shortest) return;
  const windows = groups.map((g) => ({ g, len: g.maxModelLen ?? loadProfile(g.profile).engine.maxModelLen }));
  const widest = windows.reduce((a, b) => (b.len > a.len ? b : a));
  const tooLong = contextLengthError(widest.len, shortest.promptTokens, shortest.maxTokens);
  if (!tooLong) return;
  const source = widest.g.maxModelLen !== undefined ? (fleetFlag ? "--fleet's max-model-len" : '--max-model-len') : `profile ${widest.g.profile}'s, --max-model-len to change it`;
  const prompt = `prompts of ${shortest.promptTokens.toLocaleString('en-US')} tokens${shortest.parts.includes('+') ? ` (${shortest.parts})` : ''}`;
  const what = tooLong.field === 'prompt'
    ? `${shortest.flags}: ${prompt} are not shorter than`
    : `${shortest.flags} + --output-len: ${prompt} + ${shortest.maxTokens.toLocaleString('en-US')} output tokens = ${(shortest.promptTokens + shortest.maxTokens).toLocaleString('en-US')}, more than`;
  throw new KvgateError(
    ErrorCode.InvalidConfig,
    `${what} the max_model_len of ${widest.len.toLocaleString('en-US')} tokens (${source}${groups.length > 1 ? '; the largest in the fleet' : ''}); replicas answer 400 unless prompt < max_model_len and prompt + max_tokens <= max_model_len, as vLLM: shorten the prompt or the output, or raise --max-model-len`,
    { param: shortest.flags.split(' ')[0].slice(2) },
  );
}

/** Turns the flags into a simulation: fleet, policies, workload, arrivals, data-path model, SLO. */
export function simulateOptionsOf(f: SimulateFlags): SimulateOptions {
  if (!(f.metricsInterval > 0)) throw new KvgateError(ErrorCode.InvalidConfig, '--metrics-interval must be more than 0 ms', { param: 'metrics-interval' });
  const policyFlag = f.compare?.length ? '--compare' : f.configFile !== undefined ? '--config-file' : '--preset';
  const policies = resolvePolicies(f.compare?.length ? f.compare : [f.configFile ?? f.preset], policyFlag);
  let load: SimulateOptions['load'];
  if (f.stages) load = { kind: 'stages', stages: parseStages(f.stages) };
  else if (f.rate !== undefined) load = { kind: 'stages', stages: [{ rate: f.rate, durationS: f.duration / 1000 }] };
  else load = { kind: 'closed', concurrency: f.concurrency, numRequests: f.numRequests };
  if (load.kind === 'stages') refuseOverlongLoad(load.stages, f.stages ? '--stages' : '--rate × --duration');
  const fleet = fleetOf(f);
  if (!f.trace) refusePromptsPastContext(fleet, workloadOptionsOf(f), f.fleet !== undefined);
  return {
    fleet,
    policies,
    workload: workloadOptionsOf(f),
    trace: f.trace ? { path: f.trace, timeScale: f.timeScale, windowS: f.traceWindow / 1000, numRequests: f.numRequests } : undefined,
    load,
    seed: f.seed,
    path: {
      networkLatencyMs: f.networkLatency ?? DEFAULT_PATH.networkLatencyMs,
      gatewayOverheadMs: f.gatewayOverhead ?? DEFAULT_PATH.gatewayOverheadMs,
      tokenizeTokensPerMs: f.tokenizeRate ?? DEFAULT_PATH.tokenizeTokensPerMs,
      metricsIntervalMs: f.metricsInterval ?? DEFAULT_PATH.metricsIntervalMs,
      scrapeLatencyMs: f.scrapeLatency ?? DEFAULT_PATH.scrapeLatencyMs,
      kvEvents: f.kvEvents ?? DEFAULT_PATH.kvEvents,
      kvEventLatencyMs: f.kvEventLatency ?? DEFAULT_PATH.kvEventLatencyMs,
      flowControl: f.flowControl ?? DEFAULT_PATH.flowControl,
    },
    slo: sloOf(f.slo),
  };
}
