// pydanticFloat against pydantic-core's lax float rules for JSON input (input_json.rs validate_float,
// shared.rs str_as_float: trimmed Rust f64 syntax, else single inner underscores removed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pydanticFloat } from '../../src/shared/pydantic-float.js';

test('numbers, bools and numeric strings read as pydantic reads them', () => {
  const cases: [unknown, number][] = [
    [0.5, 0.5], [2, 2], [true, 1], [false, 0],
    ['0.5', 0.5], [' 0.5 ', 0.5], ['\t0.5\n', 0.5], ['+0.5', 0.5], ['-1.25', -1.25], ['1e-3', 0.001], ['2E+1', 20],
    ['1.', 1], ['.5', 0.5], ['007', 7], ['1_000.5', 1000.5], ['1_0e1_0', 1e11], ['-1_0', -10],
    ['inf', Infinity], ['-Infinity', -Infinity], ['+INF', Infinity], ['1e400', Infinity],
  ];
  for (const [v, want] of cases) assert.equal(pydanticFloat(v), want, JSON.stringify(v));
  for (const v of ['nan', 'NaN', '-nan']) assert.ok(Number.isNaN(pydanticFloat(v)), v);
});

test('null and absent are the default; non-numeric and malformed strings and other types are invalid', () => {
  assert.equal(pydanticFloat(undefined), undefined);
  assert.equal(pydanticFloat(null), undefined);
  for (const v of ['abc', '', ' ', '.', 'e5', '1e', '1e+', '0x10', '1,5', '1.5.0', '--1', '+-1', 'in f', 'infinit', 'nan1', '1__0', '_1', '1_', ' 1_0 ', '1 0', '½', [0.5], {}]) {
    assert.equal(pydanticFloat(v), 'invalid', JSON.stringify(v));
  }
});
