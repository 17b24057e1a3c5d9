import { KvgateError, ErrorCode } from '../shared/errors.js';

/**
 * The content-part types vLLM's chat parser knows (`MM_PARSER_MAP` plus the text/refusal
 * parts it skips when empty, vllm/entrypoints/chat_utils.py), sorted as its error lists them.
 */
export const VLLM_CONTENT_PART_TYPES = [
  'audio_embeds', 'audio_url', 'image_embeds', 'image_pil', 'image_url', 'input_audio', 'input_image', 'input_text',
  'output_text', 'prompt_embeds', 'refusal', 'text', 'thinking', 'tool_reference', 'video_url',
] as const;

const KNOWN = new Set<string>(VLLM_CONTENT_PART_TYPES);

/** Keys vLLM reads a part by when it has no `type` (`_parse_chat_message_content_mm_part`). */
const TYPELESS_KEYS = ['image_url', 'image_pil', 'image_embeds', 'audio_embeds', 'prompt_embeds', 'audio_url', 'input_audio', 'video_url', 'tool_reference'];

const bad = (message: string, param: string) => new KvgateError(ErrorCode.InvalidRequest, message, { param });

/**
 * Checks one element of a message's `content` list as vLLM's chat parser does: a plain string is
 * text; an object needs a string `type` vLLM knows (an unknown one is vLLM's 400 "Unsupported
 * chat content part type", a non-string one "Invalid 'type' field"), or no `type` and one of the
 * media keys vLLM reads a typeless part by (else "Missing 'type' field"); a `text` part needs
 * string text. `where` names the part (`messages[0].content[1]`) for the kvgate-only checks.
 */
export function checkContentPart(p: unknown, where: string): void {
  if (typeof p === 'string') return;
  if (!p || typeof p !== 'object' || Array.isArray(p)) throw bad(`${where} must be a string or a content-part object`, 'messages');
  const o = p as Record<string, unknown>;
  const type = o.type;
  if (type === undefined || type === null) {
    if (TYPELESS_KEYS.some((k) => k in o)) return;
    throw bad("Missing 'type' field in multimodal part.", 'type');
  }
  if (typeof type !== 'string') throw bad("Invalid 'type' field in multimodal part.", 'type');
  if (!KNOWN.has(type)) {
    throw bad(`Unsupported chat content part type: '${type}'. Supported types: ${VLLM_CONTENT_PART_TYPES.join(', ')}.`, 'type');
  }
  if (type === 'text' && typeof o.text !== 'string') throw bad(`${where}.text must be a string`, 'messages');
}
