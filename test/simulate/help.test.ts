import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runKvgate, repoRoot } from '../helpers/cli.js';

/** `--help`'s options: flag → its whole (wrapped) description. */
function options(help: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of help.slice(help.indexOf('Options:'), help.search(/\n\n(Commands:|Workload flags)/)).split('\n').slice(1)) {
    const m = /^ {2}(?:-\w, )?(--[\w-]+)/.exec(line);
    if (m) out.set((current = m[1]), line);
    else if (current && line.startsWith('   ')) out.set(current, `${out.get(current)} ${line.trim()}`);
  }
  return out;
}

test('simulate and simulate plan --help give every flag its default (or say it is required), and docs/simulate.md names every flag', async () => {
  const docs = readFileSync(join(repoRoot, 'docs', 'simulate.md'), 'utf8');
  for (const cmd of [['simulate'], ['simulate', 'plan']]) {
    const r = await runKvgate([...cmd, '--help']);
    assert.equal(r.code, 0, r.stderr);
    const opts = options(r.stdout);
    assert.ok(opts.size > 40, `${cmd.join(' ')}: parsed ${opts.size} options`);
    for (const [flag, text] of opts) {
      if (flag === '--help') continue;
      assert.match(text, /\(default|default: |; required\)/, `${cmd.join(' ')} ${flag} shows no default: ${text}`);
      assert.ok(docs.includes(flag), `docs/simulate.md does not mention ${cmd.join(' ')} ${flag}`);
    }
  }
  // Units where a number alone would be ambiguous.
  const plan = options((await runKvgate(['simulate', 'plan', '--help'])).stdout);
  assert.match(plan.get('--replica-hourly')!, /USD per hour/);
  assert.match(plan.get('--max-replicas')!, /replicas; at most 4096/);
  assert.match(plan.get('--kv-cache-size')!, /blocks: at most 67108864/);
  assert.match(plan.get('--rate')!, /requests\/s/);
});
