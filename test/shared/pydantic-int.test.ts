// pydanticInt against pydantic-core's lax int rules (validate_int for JSON, str_as_int / clean_int_str).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pydanticInt } from '../../src/shared/pydantic-int.js';

test('integers, zero-fraction strings, signs, leading zeros, inner underscores and bools read as pydantic reads them', () => {
  const cases: [unknown, number][] = [
    [10, 10], ['10', 10], [' 10 ', 10], ['+10', 10], ['-3', -3], ['007', 7], ['10.0', 10], ['10.000', 10],
    ['1_000', 1000], ['0_1', 1], ['-0', 0], [true, 1], [false, 0],
  ];
  for (const [v, want] of cases) assert.equal(pydanticInt(v), want, JSON.stringify(v));
  assert.ok(Object.is(pydanticInt('-0'), 0), '"-0" is 0, not -0');
});

test('null and absent are the default; fractions, non-numbers and malformed strings are invalid', () => {
  assert.equal(pydanticInt(undefined), undefined);
  assert.equal(pydanticInt(null), undefined);
  for (const v of ['1.5', 'abc', '', ' ', '1e3', '10.', '.0', '1__0', '_1', '1_', '+-1', '--1', '0x10', '1.0_0', '9'.repeat(400), 1.5, [1], {}]) {
    assert.equal(pydanticInt(v), 'invalid', JSON.stringify(v));
  }
});
