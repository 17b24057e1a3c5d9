// The routing quality suite's workloads (npm run bench:quality, bench:quality-realtime).
import type { SimulateFlags } from '../src/simulate/options.js';

export const TRACE = '/work/shared/data/traces/mooncake-conversation.jsonl';

/** The suite: 3 replicas of the default profile (what `kvgate up` runs), one workload each. */
export const QUALITY_WORKLOADS: { name: string; what: string; flags: Partial<SimulateFlags> }[] = [
  {
    name: 'ample-cache',
    what: 'shared prefix, ample KV: 16 groups × 6 prompts, 3,000-token prefixes, 100-token questions, 100 out, Poisson 20 req/s for 40 s',
    flags: { numGroups: 16, promptsPerGroup: 6, systemPromptLen: 3000, questionLen: 100, outputLen: 100, rate: 20, duration: 40_000 },
  },
  {
    name: 'cache-pressure',
    what: '800-block (12,800-token) KV cache per replica: 16 groups × 6 prompts of 3,000-token prefixes do not fit; 100-token questions, 30 out, Poisson 12 req/s for 40 s',
    flags: { numGroups: 16, promptsPerGroup: 6, systemPromptLen: 3000, questionLen: 100, outputLen: 30, rate: 12, duration: 40_000, kvCacheSize: 800 },
  },
  {
    name: 'multi-turn',
    what: 'chat: 24 conversations × 6 turns, 1,000-token system prompt, 100-token turns, 100 out, 8 conversations at a time',
    flags: { workload: 'multi-turn', numConversations: 24, turns: 6, systemPromptLen: 1000, questionLen: 100, outputLen: 100, concurrency: 8 },
  },
  {
    name: 'decode-heavy',
    what: 'unrelated 256-token prompts, 1,024 tokens out, Poisson 8 req/s for 40 s',
    flags: { workload: 'decode-heavy', numRequests: 400, inputLen: 256, outputLen: 1024, rate: 8, duration: 40_000 },
  },
  {
    name: 'mooncake',
    // --max-model-len 131072: the trace's prompts reach 126k tokens; at the profile's 32k, 8 % of
    // them would be refused with 400 and the comparison would be about refusals.
    what: 'the Mooncake conversation trace (12,031 requests, 1 h) at its own pace, 128k context',
    flags: { trace: TRACE, traceWindow: 300_000, maxModelLen: 131_072 },
  },
];

