// `kvgate simulate --help`, `kvgate simulate plan --help` and `kvgate sim --help` say, for every
// flag, what happens when it is not given (commander's "(default: …)" or the description's own
// "default …"), and a duration flag's default carries its unit ("100ms", not "100"). Flags kept
// only for compatibility, which do nothing, are exempt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKvgate } from '../helpers/cli.js';

/** Each option entry of a --help page (the block after "Options:" up to a blank line): its first line and wrapped lines, joined. */
function optionEntries(help: string): string[] {
  const entries: string[] = [];
  for (const line of help.slice(help.indexOf('Options:\n') + 'Options:\n'.length).split('\n')) {
    if (line.trim() === '') break;
    if (/^ {2}-/.test(line)) entries.push(line.trim());
    else if (entries.length) entries[entries.length - 1] += ` ${line.trim()}`;
  }
  return entries;
}

for (const args of [['simulate'], ['simulate', 'plan'], ['sim']]) {
  test(`kvgate ${args.join(' ')} --help gives every flag's default, durations with their unit`, async () => {
    const r = await runKvgate([...args, '--help']);
    assert.equal(r.code, 0, r.stderr);
    const entries = optionEntries(r.stdout);
    assert.ok(entries.length > 20, `${entries.length} option entries read`);
    const missing = entries.filter((e) => !/^-h, --help/.test(e) && !/accepted for compatibility/.test(e) && !/\brequired\)/.test(e) && !/default/i.test(e)); // a required flag has no default
    assert.deepEqual(missing, [], 'flags whose help says nothing of their default');
    const bare = entries.filter((e) => /<duration>/.test(e) && /\(default: [1-9][\d.]*\)/.test(e));
    assert.deepEqual(bare, [], 'duration defaults without a unit');
  });
}
