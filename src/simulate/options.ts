import { KvgateError, ErrorCode } from '../shared/errors.js';
import { type WorkloadOptions } from '../bench/workloads.js';
import { checkFleetSize, parseFleetSpec, type ReplicaGroup } from './fleet.js';
import { resolvePolicies, DEFAULT_PATH, type SimulateOptions } from './simulate.js';
import { parseSlo, type Slo } from './slo.js';
import { listProfiles } from '../engine/index.js';
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
  return {
    fleet: fleetOf(f),
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
