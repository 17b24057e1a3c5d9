// The exact prefix index's part of `npm run bench:scheduler`: match time for 100 endpoints (token
// ids in hand, so tokenization excluded) and bytes per stored block.
import { build } from 'hdr-histogram-js';
import { ExactPrefixIndex, type ExactIndexStoredEvent } from '../src/router/prefix/exact-prefix-index.js';
import { EstimateTokenizer } from '../src/shared/tokenizer/estimate.js';

const MODEL = 'Qwen/Qwen2.5-3B-Instruct';
const BS = 16;
const ENDPOINTS = 100;
const GROUPS = 40;

/** 32-bit LCG in integer arithmetic (a plain multiply would lose bits past 2^53 and cycle early). */
function rng(seed: number) {
  let a = seed;
  return () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

/** Filler text of n characters: estimate tokens are 4 characters, so n/4 tokens. */
function textOf(rand: () => number, n: number): string {
  const words = 'alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega routing cache token prefix'.split(' ');
  let s = '';
  while (s.length < n) s += `${words[Math.floor(rand() * words.length)]} `;
  return s.slice(0, n);
}

/** BlockStored for the full blocks of `tokens`, as a vLLM engine announces a new prompt. */
function storedEvent(tokens: number[], hashBase: bigint): ExactIndexStoredEvent {
  const n = Math.floor(tokens.length / BS);
  return {
    type: 'BlockStored',
    blockHashes: Array.from({ length: n }, (_, i) => hashBase + BigInt(i)),
    parentBlockHash: null,
    tokenIds: tokens.slice(0, n * BS),
    blockSize: BS,
    loraName: null,
    medium: 'GPU',
  };
}

export interface ExactMatchFigures {
  p50: number;
  p99: number;
  max: number;
  sharedP50: number;
  sharedP99: number;
  /** The same percentiles in process CPU time, which a busy machine's preemptions do not inflate. */
  cpuP50: number;
  cpuP99: number;
  sharedCpuP99: number;
  blocksPerRequest: number;
  indexedBlocks: number;
  meanHolders: number;
}

/**
 * 100 endpoints; each holds 3 of 40 groups' 8,000-character system prompts (125 blocks each, so
 * every group is cached on 7–8 endpoints) and 20 unique 24,000-character user prompts (375 blocks
 * each): 7,875 blocks an endpoint. Requests: a group's system prompt plus a new user part, 32,000
 * characters = 500 blocks. Also the worst case of a 125-block prefix held by all 100 endpoints.
 */
export function benchExactMatch(measure = 5000): ExactMatchFigures {
  const rand = rng(7);
  const tok = new EstimateTokenizer();
  const idx = new ExactPrefixIndex({ initialBlocks: 1 << 20 });
  const systems = Array.from({ length: GROUPS }, () => tok.encode(textOf(rand, 8000)));
  let hash = 1n;
  for (let e = 0; e < ENDPOINTS; e++) {
    const id = `10.0.${e >> 8}.${e & 255}:8000`;
    for (const g of [e % GROUPS, (e + 13) % GROUPS, (e + 27) % GROUPS]) {
      idx.apply(id, MODEL, storedEvent(systems[g], hash));
      hash += 1000n;
    }
    for (let u = 0; u < 20; u++) {
      idx.apply(id, MODEL, storedEvent(tok.encode(textOf(rand, 24_000)), hash));
      hash += 1000n;
    }
  }
  const universal = tok.encode(textOf(rand, 8000));
  const everywhere = new ExactPrefixIndex();
  for (let e = 0; e < ENDPOINTS; e++) everywhere.apply(`ep${e}`, MODEL, storedEvent(universal, BigInt(e) << 32n));

  const requests = Array.from({ length: 200 }, (_, i) => [...systems[i % GROUPS], ...tok.encode(textOf(rand, 24_000))]);
  const shared = Array.from({ length: 200 }, () => [...universal, ...tok.encode(textOf(rand, 24_000))]);
  const hist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const sharedHist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const cpuHist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const sharedCpuHist = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: 3 });
  const cpuUs = (c: NodeJS.CpuUsage) => {
    const d = process.cpuUsage(c);
    return Math.max(1, d.user + d.system);
  };
  let holders = 0;
  const run = (n: number, record: boolean) => {
    for (let i = 0; i < n; i++) {
      const req = requests[i % requests.length];
      let c = process.cpuUsage();
      let t0 = process.hrtime.bigint();
      const m = idx.match(MODEL, null, req);
      let ns = Number(process.hrtime.bigint() - t0);
      let cpu = cpuUs(c);
      if (record) {
        hist.recordValue(Math.max(1, Math.round(ns / 1000)));
        cpuHist.recordValue(cpu);
        holders += m.size;
      }
      const s = shared[i % shared.length];
      c = process.cpuUsage();
      t0 = process.hrtime.bigint();
      everywhere.match(MODEL, null, s);
      ns = Number(process.hrtime.bigint() - t0);
      cpu = cpuUs(c);
      if (record) {
        sharedHist.recordValue(Math.max(1, Math.round(ns / 1000)));
        sharedCpuHist.recordValue(cpu);
      }
    }
  };
  run(1000, false);
  run(measure, true);
  return {
    p50: hist.getValueAtPercentile(50),
    p99: hist.getValueAtPercentile(99),
    max: hist.maxValue,
    cpuP50: cpuHist.getValueAtPercentile(50),
    cpuP99: cpuHist.getValueAtPercentile(99),
    sharedCpuP99: sharedCpuHist.getValueAtPercentile(99),
    sharedP50: sharedHist.getValueAtPercentile(50),
    sharedP99: sharedHist.getValueAtPercentile(99),
    blocksPerRequest: Math.floor(requests[0].length / BS),
    indexedBlocks: idx.memoryStats().blocks,
    meanHolders: holders / measure,
  };
}

export interface ExactMemoryFigures {
  heapBytesPerBlock: number;
  typedBytesPerBlock: number;
  blocks: number;
  method: string;
}

/** Heap + array-buffer growth per stored (endpoint, block) entry, after GC: 100 endpoints × 5,000 blocks, a third of them shared. */
export async function benchExactMemory(): Promise<ExactMemoryFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  // Array-buffer memory of earlier garbage is released after the collection, off the main
  // thread: collect, let it go, collect again, or the delta would be off by whatever was pending.
  const quiet = async () => {
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
    gc?.();
  };
  const idx = new ExactPrefixIndex();
  const rand = rng(11);
  const sharedTokens = Array.from({ length: 20 }, () => Array.from({ length: 1600 }, () => Math.floor(rand() * 150_000)));
  await quiet();
  const before = process.memoryUsage();
  let hash = 1n;
  for (let e = 0; e < ENDPOINTS; e++) {
    for (let k = 0; k < 50; k++) {
      // 100 blocks per event; every third prompt is one of 20 shared ones.
      const tokens = k % 3 === 0 ? sharedTokens[(e + k) % 20] : Array.from({ length: 1600 }, () => Math.floor(rand() * 150_000));
      idx.apply(`ep${e}`, MODEL, storedEvent(tokens, hash));
      hash += 1000n;
    }
  }
  await quiet();
  const after = process.memoryUsage();
  const m = idx.memoryStats();
  const bytes = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers);
  return { heapBytesPerBlock: gc ? bytes / m.blocks : NaN, typedBytesPerBlock: m.bytesPerBlock, blocks: m.blocks, method: gc ? 'heap + array buffers delta after GC' : 'run with --expose-gc' };
}
