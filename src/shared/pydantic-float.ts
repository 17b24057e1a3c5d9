/**
 * A JSON value read as a `float` field of vLLM's request models reads it (`temperature`, `top_p`,
 * `min_p`, the penalties, `logit_bias` values). Those are pydantic v2 models in lax mode (see
 * pydantic-bool.ts); pydantic-core's float validator for JSON input (`input_json.rs`
 * `validate_float`, `shared.rs` `str_as_float`) takes:
 * - a number;
 * - true and false as 1 and 0;
 * - a string that, trimmed of surrounding whitespace, parses as a Rust f64: an optional sign, then
 *   digits with an optional fraction (`"1."`, `".5"`) and exponent (`"1e-3"`, `"2E+1"`), or
 *   `inf`, `infinity`, `nan` in any case; failing that, the untrimmed string with single
 *   underscores between characters removed (`"1_000.5"`; `" 1_0 "` and `"1__0"` fail).
 * null and a missing field are undefined (the field's default); anything else (`"abc"`, `""`,
 * `"0x10"`, a list…) is 'invalid', which vLLM answers 400.
 *
 * `"inf"`, `"nan"` and numbers beyond the double range (`"1e400"`) come back as Infinity / NaN:
 * pydantic accepts them (`allow_inf_nan` defaults to true and vLLM's fields do not turn it off).
 * Whether a field takes them is the caller's rule.
 */
export function pydanticFloat(v: unknown): number | undefined | 'invalid' {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return 'invalid';
  const direct = rustF64(v.trim());
  if (direct !== undefined) return direct;
  // pydantic's strip_underscores: no leading, trailing or doubled underscore, at least one.
  if (!v.includes('_') || v.startsWith('_') || v.endsWith('_') || v.includes('__')) return 'invalid';
  return rustF64(v.replaceAll('_', '')) ?? 'invalid';
}

/** Rust's `f64::from_str` grammar (case-insensitive): sign, then inf / infinity / nan or a decimal with optional exponent. */
const F64 = /^[+-]?(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i;

function rustF64(s: string): number | undefined {
  if (!F64.test(s)) return undefined;
  const body = s.replace(/^[+-]/, '').toLowerCase();
  const negative = s.startsWith('-');
  if (body === 'nan') return NaN;
  if (body === 'inf' || body === 'infinity') return negative ? -Infinity : Infinity;
  return Number(s); // the grammar is a subset of what Number() reads; overflow gives ±Infinity as Rust does
}
