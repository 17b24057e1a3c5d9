import type { Tokenizer } from '../engine/types.js';
import { KvgateError, ErrorCode } from '../shared/errors.js';
import { pydanticInt } from '../shared/pydantic-int.js';

/**
 * POST /v1/embeddings as llm-d-inference-sim answers it: one synthetic unit vector per input
 * (a string, strings, token ids, or lists of token ids), `dimensions` long (default
 * `--default-embedding-dimensions`), as floats or base64 little-endian float32. The vector is a
 * pure function of the input's tokens, so equal inputs embed equally.
 */
export function embeddingsResponse(body: Record<string, unknown>, model: string, tokenizer: Tokenizer, defaultDimensions: number) {
  const bad = (message: string, param: string) => new KvgateError(ErrorCode.InvalidRequest, message, { param });
  const input = body.input;
  let inputs: number[][];
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && (t as number) >= 0);
  if (typeof input === 'string') inputs = [tokenizer.encode(input)];
  else if (isIds(input)) inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string')) inputs = (input as string[]).map((s) => tokenizer.encode(s));
  else if (Array.isArray(input) && input.length > 0 && input.every(isIds)) inputs = input as number[][];
  else throw bad('input must be a string, a list of strings, a list of token ids or a list of token-id lists', 'input');
  if (inputs.some((ids) => ids.length === 0)) throw bad('input must not be empty', 'input');
  const dims = pydanticInt(body.dimensions) ?? defaultDimensions; // `"dimensions": "64"` is 64, as pydantic reads it
  if (dims === 'invalid' || dims < 1 || dims > 65_536) throw bad('dimensions must be an integer between 1 and 65536', 'dimensions');
  const format = body.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw bad("encoding_format must be 'float' or 'base64'", 'encoding_format');
  let tokens = 0;
  const data = inputs.map((ids, index) => {
    tokens += ids.length;
    const v = vectorOf(ids, dims);
    return { object: 'embedding', index, embedding: format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v) };
  });
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/** A deterministic unit vector (float32, little-endian on every platform Node runs on) for a token sequence. */
function vectorOf(ids: number[], dims: number): Float32Array {
  let h = 0x811c9dc5;
  for (const id of ids) h = Math.imul(h ^ id, 0x01000193);
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ i;
    h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
    const x = ((h >>> 0) / 4294967296) * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  const s = 1 / Math.sqrt(norm || 1);
  for (let i = 0; i < dims; i++) v[i] *= s;
  return v;
}
