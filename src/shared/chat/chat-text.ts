/**
 * The text an engine sees for a chat request when the model's own chat template is not known:
 * Qwen-style ChatML with vLLM's rules for turning OpenAI message shapes into text. Shared by the
 * simulator's engine (what it tokenizes) and the router (what it matches prefixes on), so both
 * agree byte for byte.
 */

import { pythonJson, templateTools } from './template-tools.js';

export const IM_START = '<|im_start|>';
export const IM_END = '<|im_end|>';

/** An OpenAI chat message as it arrives (loosely typed: clients send many shapes). */
export interface ChatMessageLike {
  role?: unknown;
  content?: unknown;
  name?: unknown;
  tool_calls?: unknown;
  tool_call_id?: unknown;
  reasoning_content?: unknown;
}

/**
 * Text of a message's `content`: a string as is; a list of parts with the text parts joined by
 * "\n" (as vLLM's chat_utils joins text parts for string-format templates), other parts by a
 * placeholder naming their type and, for images and audio, their URL or data length — so two
 * requests with different images never share a key past the image.
 */
export function contentText(content: unknown): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return typeof content === 'object' ? JSON.stringify(content) : String(content);
  const parts: string[] = [];
  for (const p of content) {
    if (typeof p === 'string') parts.push(p);
    else if (p && typeof p === 'object') {
      const o = p as Record<string, unknown>;
      if (typeof o.text === 'string' && (o.type === undefined || o.type === 'text' || o.type === 'input_text')) parts.push(o.text);
      else parts.push(`<|${String(o.type ?? 'part')}:${mediaRef(o)}|>`);
    }
  }
  return parts.join('\n');
}

function mediaRef(o: Record<string, unknown>): string {
  for (const k of ['image_url', 'input_audio', 'audio_url', 'video_url', 'file']) {
    const v = o[k];
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object') {
      const inner = v as Record<string, unknown>;
      const s = inner.url ?? inner.data ?? inner.file_id ?? inner.file_data;
      if (typeof s === 'string') return s.length > 256 ? `${s.length}:${s.slice(0, 64)}…${s.slice(-64)}` : s;
    }
  }
  return JSON.stringify(o);
}

/** Tool calls as Qwen's template renders them: `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>`. */
function toolCallsText(calls: unknown): string {
  if (!Array.isArray(calls)) return '';
  let out = '';
  for (const c of calls) {
    const fn = c && typeof c === 'object' ? (((c as Record<string, unknown>).function ?? c) as Record<string, unknown>) : {};
    const args = typeof fn.arguments === 'string' ? fn.arguments : JSON.stringify(fn.arguments ?? {});
    out += `\n<tool_call>\n{"name": "${String(fn.name ?? '')}", "arguments": ${args}}\n</tool_call>`;
  }
  return out;
}

const TOOLS_HEADER = '# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>';
const TOOLS_FOOTER = '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';

/**
 * ChatML rendering with the generation prompt appended, e.g.
 * `<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n`.
 * A turn's rendering never depends on later turns, so turn N+1's text starts with turn N's
 * (which is what lets a multi-turn conversation hit its earlier turns' cached blocks).
 * Tool results render as Qwen's `<tool_response>` user turns; `name` is not rendered (Qwen's
 * template ignores it).
 *
 * `tools` (the request's, when it has any: template-tools.ts) open the text as Qwen3's template
 * renders them (its tokenizer_config.json, `{%- if tools %}`): one system turn holding the first
 * message's text when that message is a system one (then not rendered again), a blank line, and
 * the "# Tools" instructions listing each tool's JSON on its own line between <tools> tags. So
 * tools count as prompt tokens and are part of the prefix every turn of the conversation shares.
 */
export function renderChatML(messages: readonly ChatMessageLike[], tools?: unknown): string {
  let out = '';
  let rest = messages;
  const listed = templateTools(tools);
  if (listed) {
    const systemFirst = messages[0]?.role === 'system';
    const system = systemFirst ? `${contentText(messages[0].content)}\n\n` : '';
    out += `${IM_START}system\n${system}${TOOLS_HEADER}${listed.map((t) => `\n${pythonJson(t)}`).join('')}${TOOLS_FOOTER}${IM_END}\n`;
    if (systemFirst) rest = messages.slice(1);
  }
  for (const m of rest) {
    const role = typeof m.role === 'string' ? m.role : 'user';
    let body = contentText(m.content);
    if (role === 'tool') {
      out += `${IM_START}user\n<tool_response>\n${body}\n</tool_response>${IM_END}\n`;
      continue;
    }
    if (role === 'assistant') body += toolCallsText(m.tool_calls);
    out += `${IM_START}${role}\n${body}${IM_END}\n`;
  }
  return out + `${IM_START}assistant\n`;
}
