// Router-side tokenization for `npm run bench:scheduler`: a 32,000-character prompt cold, warm
// without a cache, and through the prefix cache; and the load/encode comparison of two npm
// tokenizer libraries, each measured in a fresh process.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createCutPointTokenizer, PrefixCachingTokenizer, qwenTokenizerDir, renderChatML } from '../src/shared/tokenizer/index.js';
import { repoRoot } from './lib.js';

/** English-like text with a large vocabulary (so a BPE word cache does not make encoding trivial), paragraphs and punctuation. */
export function proseOf(seed: number, n: number): string {
  let a = seed;
  // 32-bit LCG in integer arithmetic (a plain multiply would lose bits past 2^53 and cycle early).
  const r = () => (a = (Math.imul(a, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const syl = ['ka', 'ro', 'mi', 'stan', 'ter', 'lo', 'qua', 'ven', 'dor', 'is', 'th', 'ex', 'pli', 'cat', 'ion', 'ment', 'al', 'un', 'de', 're'];
  let s = '';
  while (s.length < n) {
    const len = 1 + Math.floor(r() * 4);
    let w = '';
    for (let i = 0; i < len; i++) w += syl[Math.floor(r() * syl.length)];
    const p = r();
    s += p < 0.06 ? `${w}.\n` : p < 0.12 ? `${w}, ` : p < 0.14 ? `${Math.floor(r() * 10_000)} ` : `${w} `;
  }
  return s.slice(0, n);
}

/** A 32,000-character chat request: an 8,000-character system prompt of group `g` and a 24,000-character user message. */
export function chatPrompt(g: number, u: number): string {
  return renderChatML([
    { role: 'system', content: proseOf(1000 + g, 8000) },
    { role: 'user', content: proseOf(5000 + u, 24_000) },
  ]);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Process CPU time of f, ms: on a shared 2-core machine wall time mostly measures the neighbours. */
const ms = (f: () => void) => {
  const c = process.cpuUsage();
  f();
  const d = process.cpuUsage(c);
  return (d.user + d.system) / 1000;
};

export interface TokenizeFigures {
  spec: string;
  tokens: number;
  coldMs: number;
  warmMs: number;
  sharedSystemMs: number;
  repeatedMs: number;
}

/**
 * For one tokenizer: `cold` — the first encode of a fresh instance; `warm` — a new prompt on a
 * warmed instance, no cache; `sharedSystem` — through the prefix cache, a new user message behind
 * a system prompt seen before (only the system prompt is cached); `repeated` — a prompt seen
 * before in full (an agent's earlier turns).
 */
export async function benchTokenize(spec: 'estimate' | 'qwen'): Promise<TokenizeFigures> {
  const base = await createCutPointTokenizer(spec);
  const p0 = chatPrompt(0, 0);
  const coldMs = ms(() => base.encode(p0));
  const tokens = base.encode(p0).length;
  const warm: number[] = [];
  for (let i = 1; i <= 7; i++) {
    const p = chatPrompt(i, i);
    warm.push(ms(() => base.encode(p)));
  }
  const cached = new PrefixCachingTokenizer(base);
  const shared: number[] = [];
  const repeated: number[] = [];
  for (let i = 0; i < 7; i++) {
    cached.encode(chatPrompt(20 + i, 100 + i));
    const next = chatPrompt(20 + i, 200 + i);
    shared.push(ms(() => cached.encode(next)));
    repeated.push(ms(() => cached.encode(next)));
  }
  return { spec, tokens, coldMs, warmMs: median(warm), sharedSystemMs: median(shared), repeatedMs: median(repeated) };
}

export interface LibraryFigures {
  library: string;
  loadMs: number;
  coldEncodeMs: number;
  warmEncodeMs: number;
  tokens: number;
}

// Runs in a child process: import + construct (load), first encode (cold), median of 5 new prompts
// (warm). Process CPU time (user + system, all threads), not wall time: on a shared 2-core machine
// wall time mostly measures the neighbours.
const LIB_PROBE = `
const { readFileSync } = await import('node:fs');
const [lib, dir, prompts] = [process.argv.at(-2), process.argv.at(-1), JSON.parse(readFileSync(0, 'utf8'))];
const cpu = (f) => { const c = process.cpuUsage(); const r = f(); const d = process.cpuUsage(c); return [(d.user + d.system) / 1000, r]; };
const c0 = process.cpuUsage();
const json = JSON.parse(readFileSync(dir + '/tokenizer.json', 'utf8'));
const config = JSON.parse(readFileSync(dir + '/tokenizer_config.json', 'utf8'));
let encode;
if (lib === '@lenml/tokenizers') {
  const { TokenizerLoader } = await import('@lenml/tokenizers');
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  encode = (t) => tok.encode(t, { add_special_tokens: false });
} else {
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tok = new Tokenizer(json, config);
  encode = (t) => tok.encode(t, { add_special_tokens: false }).ids;
}
const d0 = process.cpuUsage(c0);
const loadMs = (d0.user + d0.system) / 1000;
const [coldEncodeMs, ids] = cpu(() => encode(prompts[0]));
const warm = prompts.slice(1).map((p) => cpu(() => encode(p))[0]).sort((a, b) => a - b);
console.log(JSON.stringify({ loadMs, coldEncodeMs, warmEncodeMs: warm[Math.floor(warm.length / 2)], tokens: ids.length }));
`;

export function benchTokenizerLibraries(): LibraryFigures[] {
  const prompts = Array.from({ length: 6 }, (_, i) => chatPrompt(50 + i, 50 + i));
  return ['@lenml/tokenizers', '@huggingface/tokenizers'].map((library) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', LIB_PROBE, library, qwenTokenizerDir()], { cwd: join(repoRoot), input: JSON.stringify(prompts), encoding: 'utf8', maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`${library} probe failed: ${r.error?.message ?? r.stderr}`);
    return { library, ...(JSON.parse(r.stdout.trim()) as Omit<LibraryFigures, 'library'>) };
  });
}
