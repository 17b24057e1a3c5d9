import { createEngine, loadProfile, BLOCK_SIZES, MAX_KV_BLOCKS, MAX_REPLICAS, MAX_FLEET_KV_BLOCKS, describeBlockLimit, type SimEngine } from '../engine/index.js';
import type { Clock } from '../engine/types.js';
import type { EndpointInfo } from '../router/api.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { pydanticBool } from '../shared/pydantic-bool.js';

/** Engine settings of one group of identical replicas; unset fields come from the profile (as `kvgate sim`). */
export interface ReplicaGroup {
  count: number;
  profile: string;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  blockSize?: number;
  /** KV cache capacity in blocks. */
  kvCacheSize?: number;
  maxModelLen?: number;
  enablePrefixCaching?: boolean;
}

/** One modelled replica: a vLLM engine model on the shared virtual clock, and the endpoint the router sees. */
export interface ModelledReplica {
  index: number;
  info: EndpointInfo;
  engine: SimEngine;
  group: ReplicaGroup;
  /** Context limit: prompts at or over it, or prompt + max_tokens over it, are refused with 400 (as vLLM). */
  maxModelLen: number;
}

const ENGINE_KEYS: Record<string, keyof ReplicaGroup> = {
  'max-num-seqs': 'maxNumSeqs',
  'max-num-batched-tokens': 'maxNumBatchedTokens',
  'block-size': 'blockSize',
  'kv-cache-size': 'kvCacheSize',
  'max-model-len': 'maxModelLen',
};

/**
 * Parses `--fleet`: comma-separated groups `COUNT:PROFILE[:flag=value…]`, where flags are the engine
 * flags of `kvgate sim` without dashes in front (`max-num-seqs`, `max-num-batched-tokens`,
 * `block-size`, `kv-cache-size`, `max-model-len`, `enable-prefix-caching=false` — a bool read strictly:
 * true/false, 1/0, yes/no, on/off — or bare `enable-prefix-caching` / `no-enable-prefix-caching`). `defaults` (the
 * global engine flags) apply to every group unless the group sets its own.
 * Example: `4:qwen3-32b-h100-tp2,2:qwen3-32b-h100-tp2:kv-cache-size=8000`.
 */
export function parseFleetSpec(spec: string, defaults: Omit<ReplicaGroup, 'count' | 'profile'> = {}): ReplicaGroup[] {
  const bad = (msg: string) => new KvgateError(ErrorCode.InvalidConfig, `--fleet: ${msg}`, { param: 'fleet' });
  const groups = spec.split(',').map((part) => {
    const [countText, profile, ...flags] = part.trim().split(':');
    const count = Number(countText);
    if (!Number.isInteger(count) || count < 1) throw bad(`"${part}": a group starts with a replica count >= 1 (COUNT:PROFILE[:flag=value…])`);
    if (count > MAX_REPLICAS) throw bad(`"${part}": at most ${MAX_REPLICAS} replicas, the largest fleet kvgate simulate models (got ${count})`);
    if (!profile) throw bad(`"${part}": name a profile after the count`);
    const g: ReplicaGroup = { ...defaults, count, profile };
    for (const f of flags) {
      const eq = f.indexOf('=');
      const k = eq < 0 ? f : f.slice(0, eq);
      const v = eq < 0 ? undefined : f.slice(eq + 1);
      if (k === 'enable-prefix-caching' || k === 'no-enable-prefix-caching') {
        g.enablePrefixCaching = prefixCaching(k, v, bad);
        continue;
      }
      const key = ENGINE_KEYS[k];
      const n = Number(v);
      if (!key) throw bad(`unknown engine flag "${k}" (known: ${[...Object.keys(ENGINE_KEYS), 'enable-prefix-caching'].join(', ')})`);
      if (!Number.isInteger(n) || n < 1) throw bad(`${k} must be a positive integer (got "${v}")`);
      if (key === 'kvCacheSize' && n > MAX_KV_BLOCKS) throw bad(`kv-cache-size must be at most ${describeBlockLimit(MAX_KV_BLOCKS)}, what the engine model can allocate for one replica (got "${v}")`);
      (g as unknown as Record<string, number>)[key] = n;
    }
    return g;
  });
  return groups;
}

/**
 * `enable-prefix-caching[=BOOL]` / `no-enable-prefix-caching` of a --fleet group. A bare flag reads
 * as vLLM's --enable-prefix-caching / --no-enable-prefix-caching; a value is read strictly, as
 * vLLM's config models read a bool (true/false, 1/0, yes/no, on/off, t/f, y/n, any case), since
 * "enable-prefix-caching=flase" used to mean on. The negative form takes no value (as vLLM's).
 */
function prefixCaching(k: string, v: string | undefined, bad: (msg: string) => KvgateError): boolean {
  if (k === 'no-enable-prefix-caching') {
    if (v !== undefined) throw bad(`no-enable-prefix-caching takes no value (got "${v}"): write enable-prefix-caching=false`);
    return false;
  }
  if (v === undefined) return true;
  const on = pydanticBool(v);
  if (typeof on !== 'boolean') throw bad(`enable-prefix-caching must be true or false (or 1/0, yes/no, on/off; got "${v}")`);
  return on;
}

/**
 * Refuses a fleet bigger than the engine model can build (src/engine/limits.ts): more than
 * MAX_REPLICAS replicas, or more than MAX_FLEET_KV_BLOCKS KV blocks over all replicas (a profile's
 * default cache counts). `countFlag` is the flag that set the counts (--replicas, --fleet, plan's
 * --max-replicas), named in the message with --kv-cache-size; unknown profiles are left to the caller.
 */
export function checkFleetSize(groups: ReplicaGroup[], countFlag = '--replicas'): void {
  const replicas = groups.reduce((a, g) => a + g.count, 0);
  if (replicas > MAX_REPLICAS) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${countFlag}: ${replicas} replicas, more than the ${MAX_REPLICAS} kvgate simulate models`, { param: countFlag.slice(2) });
  }
  const blocks = groups.map((g) => g.count * (g.kvCacheSize ?? loadProfile(g.profile).engine.numGpuBlocks));
  const total = blocks.reduce((a, b) => a + b, 0);
  if (total > MAX_FLEET_KV_BLOCKS) {
    const parts = groups.map((g, i) => `${g.count} × ${(blocks[i] / g.count).toLocaleString('en-US')}${g.kvCacheSize === undefined ? ` (${g.profile}'s)` : ''}`).join(' + ');
    throw new KvgateError(
      ErrorCode.InvalidConfig,
      `${countFlag} and --kv-cache-size: ${parts} = ${total.toLocaleString('en-US')} KV blocks over the fleet, more than kvgate simulate models: at most ${describeBlockLimit(MAX_FLEET_KV_BLOCKS)}; lower ${countFlag} or --kv-cache-size`,
      { param: countFlag.slice(2) },
    );
  }
}

/**
 * Builds the modelled replicas on `clock`. Throws InvalidConfig for a block size `kvgate sim` refuses. Replica i is seeded `seed + i` as `kvgate up` seeds its
 * simulators; ids are "sim-<i>:8000" (host:port, as the router keys endpoints). `kvEvents`: the
 * engines emit KV events (a little work per block; only when someone reads them).
 */
export function buildFleet(groups: ReplicaGroup[], clock: Clock, seed: number, kvEvents = false): ModelledReplica[] {
  for (const g of groups) loadProfile(g.profile); // an unknown profile says so before any size check
  checkFleetSize(groups);
  const replicas: ModelledReplica[] = [];
  for (const g of groups) {
    const profile = loadProfile(g.profile);
    if (g.blockSize !== undefined && !BLOCK_SIZES.includes(g.blockSize)) {
      throw new KvgateError(ErrorCode.InvalidConfig, `--block-size must be ${BLOCK_SIZES.join(', ')} tokens, as kvgate sim and vLLM take (got ${g.blockSize})`, { param: 'block-size' });
    }
    for (let k = 0; k < g.count; k++) {
      const index = replicas.length;
      const engine = createEngine({
        profile,
        clock,
        seed: seed + index,
        blockSize: g.blockSize,
        kvCacheSize: g.kvCacheSize,
        maxNumSeqs: g.maxNumSeqs,
        maxNumBatchedTokens: g.maxNumBatchedTokens,
        maxModelLen: g.maxModelLen,
        enablePrefixCaching: g.enablePrefixCaching ?? true,
        kvEvents,
      });
      const host = `sim-${index}`;
      replicas.push({
        index,
        info: { id: `${host}:8000`, host, port: 8000, url: `http://${host}:8000`, labels: { profile: g.profile } },
        engine,
        group: g,
        maxModelLen: g.maxModelLen ?? profile.engine.maxModelLen,
      });
    }
  }
  if (replicas.length === 0) throw new KvgateError(ErrorCode.InvalidConfig, 'the fleet has no replicas', { param: 'replicas' });
  return replicas;
}

/** Short description of a fleet for reports: "8 × qwen3-32b-h100-tp2 (kv-cache-size 19208)". */
export function describeFleet(groups: ReplicaGroup[]): string {
  return groups
    .map((g) => {
      const flags = Object.entries(ENGINE_KEYS)
        .filter(([, key]) => g[key] !== undefined)
        .map(([flag, key]) => `${flag} ${g[key]}`);
      if (g.enablePrefixCaching === false) flags.push('no prefix caching');
      return `${g.count} × ${g.profile}${flags.length ? ` (${flags.join(', ')})` : ''}`;
    })
    .join(' + ');
}
