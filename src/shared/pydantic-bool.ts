/**
 * A JSON value read as a `bool` field of vLLM's request models reads it. Those are pydantic v2
 * models in lax mode (OpenAIBaseModel sets only `extra="allow"`), so besides true and false a
 * bool field takes 0 and 1 and the strings "0", "1", "f", "t", "n", "y", "no", "yes", "off",
 * "on", "false", "true" in any ASCII case (pydantic's conversion table and its core's
 * str_as_bool; no trimming). `"stream": "yes"` therefore streams and
 * `"include_usage": "no"` asks for no usage. null and a missing field are undefined (the field's
 * default); anything else is 'invalid', which vLLM answers 400.
 */
export function pydanticBool(v: unknown): boolean | undefined | 'invalid' {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : 'invalid';
  if (typeof v === 'string') {
    const s = v.toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  return 'invalid';
}

const TRUE = new Set(['1', 't', 'y', 'on', 'yes', 'true']);
const FALSE = new Set(['0', 'f', 'n', 'no', 'off', 'false']);

/**
 * Python's truthiness of a JSON value, which vLLM's `model_validator(mode="before")` checks test
 * on the raw body with `data.get(...)`, before any field is coerced: `"stream": "false"` is a
 * non-empty string there, so it passes "Stream options can only be defined when `stream=True`".
 */
export function pythonTruthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}
