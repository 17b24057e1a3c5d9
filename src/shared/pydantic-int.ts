/**
 * A JSON value read as an `int` field of vLLM's request models reads it. Those are pydantic v2
 * models in lax mode (see pydantic-bool.ts), whose int validator (pydantic-core's
 * `validate_int` for JSON input, `str_as_int` / `clean_int_str` for strings) takes:
 * - an integer, and a float with no fractional part (JSON `10.0` is already 10 here);
 * - true and false as 1 and 0;
 * - a string holding an integer: surrounding whitespace, one leading `+` or `-`, leading zeros,
 *   single underscores between digits (`"1_000"`) and a fraction of only zeros (`"10.0"`, not
 *   `"10."`) are allowed, so `"max_tokens": "10"` asks for 10 tokens.
 * null and a missing field are undefined (the field's default); anything else (`"1.5"`, `"abc"`,
 * `"1e3"`, `""`, a list…) is 'invalid', which vLLM answers 400. Integers beyond 2^53 come back
 * as the nearest double (pydantic keeps them exact; no field the simulator reads needs that).
 */
export function pydanticInt(v: unknown): number | undefined | 'invalid' {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isInteger(v) ? v : 'invalid';
  if (typeof v !== 'string') return 'invalid';
  const m = INT_STRING.exec(v.trim());
  if (!m) return 'invalid';
  const n = Number(m[1].replaceAll('_', ''));
  if (!Number.isFinite(n)) return 'invalid'; // pydantic's int_parsing_size (over 4300 digits)
  return m[0].startsWith('-') && n !== 0 ? -n : n;
}

/** Sign, digits with single inner underscores (group 1), then an optional all-zero fraction. */
const INT_STRING = /^[+-]?(\d+(?:_\d+)*)(?:\.0+)?$/;
