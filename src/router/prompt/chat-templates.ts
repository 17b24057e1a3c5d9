import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { contentText, renderChatML, type ChatMessageLike } from '../../shared/chat/chat-text.js';
import { templateTools } from '../../shared/chat/template-tools.js';
import { KvgateError, ErrorCode } from '../../shared/errors.js';

/** One model's chat template, as its tokenizer_config.json carries it. */
interface LoadedTemplate {
  template: Template;
  bosToken: string;
  eosToken: string;
}

/**
 * Renders chat requests into the text the engine would tokenize, so prefix matching works on
 * what the engine caches. With the model's own chat template (read from its
 * tokenizer_config.json, rendered with @huggingface/jinja) when one is configured for that model,
 * else kvgate's canonical ChatML rendering (src/shared/chat/chat-text.ts), which the simulator
 * also uses. Either way message content is first normalised as vLLM does for string-format
 * templates (text parts joined by "\n"), so `"T"` and `[{"type":"text","text":"T"}]` render
 * identically.
 */
export class ChatTemplates {
  private readonly byModel = new Map<string, LoadedTemplate>();
  private fallback?: LoadedTemplate;

  /**
   * `specs`: `PATH` (every model) or `MODEL=PATH`; PATH is a tokenizer_config.json, a directory
   * holding one, or a .jinja file. Throws InvalidConfig naming the file on anything unreadable.
   */
  static load(specs: readonly string[] = []): ChatTemplates {
    const t = new ChatTemplates();
    for (const spec of specs) {
      const eq = spec.indexOf('=');
      const [model, path] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [undefined, spec];
      const loaded = loadTemplate(path);
      if (model) t.byModel.set(model, loaded);
      else t.fallback = loaded;
    }
    return t;
  }

  get size(): number {
    return this.byModel.size + (this.fallback ? 1 : 0);
  }

  /**
   * The prompt text of a chat request for `model` (never throws: a failing template falls back).
   * `tools` are the request's, given to the template as vLLM gives them (template-tools.ts) and
   * rendered by the canonical text too, so two requests that differ only in tools differ here.
   */
  render(model: string, messages: readonly ChatMessageLike[], tools?: unknown): string {
    const t = this.byModel.get(model) ?? this.fallback;
    if (t) {
      try {
        return t.template.render({
          messages: messages.map((m) => ({ ...m, content: contentText(m.content) })),
          tools: templateTools(tools),
          add_generation_prompt: true,
          bos_token: t.bosToken,
          eos_token: t.eosToken,
        });
      } catch {
        // A template that rejects this conversation (strict role order, say): the engine would
        // answer 400 anyway; the canonical text still gives a stable key.
      }
    }
    return renderChatML(messages, tools);
  }
}

function tokenText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return '';
}

function loadTemplate(path: string): LoadedTemplate {
  const fail = (why: string) => new KvgateError(ErrorCode.InvalidConfig, `--chat-template ${path}: ${why}`);
  let file = path;
  try {
    if (statSync(path).isDirectory()) file = join(path, 'tokenizer_config.json');
  } catch {
    throw fail('no such file or directory');
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw fail((err as Error).message);
  }
  let source = text;
  let bosToken = '';
  let eosToken = '';
  if (file.endsWith('.json')) {
    let cfg: { chat_template?: unknown; bos_token?: unknown; eos_token?: unknown };
    try {
      cfg = JSON.parse(text) as typeof cfg;
    } catch (err) {
      throw fail(`not JSON: ${(err as Error).message}`);
    }
    const ct = cfg.chat_template;
    // Newer tokenizer configs hold a list of named templates; "default" is the chat one.
    const chosen = Array.isArray(ct) ? (ct.find((x) => x?.name === 'default') ?? ct[0])?.template : ct;
    if (typeof chosen !== 'string') throw fail('has no chat_template');
    source = chosen;
    bosToken = tokenText(cfg.bos_token);
    eosToken = tokenText(cfg.eos_token);
  }
  try {
    return { template: new Template(source), bosToken, eosToken };
  } catch (err) {
    throw fail(`the chat template does not parse: ${(err as Error).message}`);
  }
}
