/**
 * A chat request's `tools` as a chat template sees them, and the JSON it prints for them.
 *
 * vLLM validates `tools` into ChatCompletionToolsParam and hands the template
 * `[tool.model_dump() for tool in request.tools]` (vllm/entrypoints/openai/serving_chat.py;
 * protocol.py: `type` = "function", `function` = FunctionDefinition {name, description = None,
 * parameters = None}; OpenAIBaseModel keeps unknown fields after the declared ones). So a tool
 * prints its declared fields first, in that order, with null for an absent description or
 * parameters, then any other fields as sent. A template prints a tool with `tool | tojson`:
 * transformers' tojson is Python's json.dumps with ", " and ": " separators and non-ASCII kept.
 * (The reference names `tools` among what a chat request renders — routers-and-vllm.md, /tokenize's
 * chat form — but gives no template text; the rendering follows Qwen3's tokenizer_config.json.)
 */

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Declared fields first (absent optional ones as null), then the rest in the order sent: pydantic's model_dump. */
function dump(value: unknown, declared: Json): unknown {
  if (!isObject(value)) return value;
  const out: Json = {};
  for (const [k, fallback] of Object.entries(declared)) out[k] = value[k] === undefined ? fallback : value[k];
  for (const [k, v] of Object.entries(value)) if (!(k in declared)) out[k] = v;
  return out;
}

/**
 * The tools a template is given, or undefined when it is given none: an absent, null or empty
 * list (`{% if tools %}` is false for all three). Entries that are not objects are passed as they
 * are (vLLM would refuse them; the simulator renders what it was sent).
 */
export function templateTools(tools: unknown): unknown[] | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return tools.map((t) => {
    if (!isObject(t)) return t;
    const tool = dump(t, { type: 'function', function: undefined }) as Json;
    tool.function = dump(t.function, { name: undefined, description: null, parameters: null });
    return tool;
  });
}

/**
 * Python's `json.dumps(v, ensure_ascii=False)`: ", " between items, ": " after keys, keys in
 * their order. Fields whose value is undefined are left out, as JSON.stringify does. (A float
 * such as 1.0 prints as 1: JSON parsing has already lost the difference.)
 */
export function pythonJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => pythonJson(x === undefined ? null : x)).join(', ')}]`;
  if (isObject(v)) {
    const items = Object.entries(v).filter(([, x]) => x !== undefined);
    return `{${items.map(([k, x]) => `${JSON.stringify(k)}: ${pythonJson(x)}`).join(', ')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
