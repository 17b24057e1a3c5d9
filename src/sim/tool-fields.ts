import { KvgateError, ErrorCode } from '../shared/errors.js';

const bad = (message: string, param: string) => new KvgateError(ErrorCode.InvalidRequest, message, { param });

/**
 * vLLM's `check_tool_usage` (ChatCompletionRequest, a "before" validator in
 * vllm/entrypoints/openai/protocol.py) on the raw body: `tools`, when given, is a list; a
 * `tool_choice` other than null or "none" needs `tools`, and must be "auto", "required" or a
 * named tool (an object). The simulator answers with text either way (it synthesizes no tool
 * calls), but a request vLLM refuses is refused here too.
 */
export function checkToolFields(body: Record<string, unknown>): void {
  const { tools, tool_choice: choice } = body;
  if (tools !== undefined && tools !== null && !Array.isArray(tools)) throw bad('tools must be a list of tools', 'tools');
  if (choice === undefined || choice === null || choice === 'none') return;
  if (tools === undefined || tools === null) throw bad('When using `tool_choice`, `tools` must be set.', 'tool_choice');
  if (choice !== 'auto' && choice !== 'required' && (typeof choice !== 'object' || Array.isArray(choice))) {
    throw bad(`Invalid value for \`tool_choice\`: ${typeof choice === 'string' ? choice : JSON.stringify(choice)}! Only named tools, "none", "auto" or "required" are supported.`, 'tool_choice');
  }
}
