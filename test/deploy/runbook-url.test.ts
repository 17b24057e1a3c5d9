// `kvgate render --monitoring --runbook-base-url URL`: the alerts' runbook_url is an absolute link
// Alertmanager and Grafana can open; checked on the rendered PrometheusRule with promtool (the
// annotation an alert carries when it fires), and the flag's validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { runKvgate } from '../helpers/cli.js';

const PROMTOOL = '/usr/bin/promtool';
const base = ['render', '--name', 'llm', '--namespace', 'ns1', '--model', 'm', '-o', '-'];
const PAGE = 'https://github.com/example/kvgate/blob/v0.1.0/docs/monitoring.md';

type Rule = { alert: string; annotations: Record<string, string> };
async function renderedRules(args: string[]): Promise<{ groups: { name: string; rules: Rule[] }[] }> {
  const r = await runKvgate([...base, ...args]);
  assert.equal(r.code, 0, r.stderr);
  const rule = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; spec: { groups: { name: string; rules: Rule[] }[] } }).find((o) => o.kind === 'PrometheusRule')!;
  return rule.spec;
}

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  assert.ok(existsSync(PROMTOOL), 'promtool is required: apt-get install prometheus (.ci/run installs it)');
  return new Promise((resolve) => execFile(PROMTOOL, args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr })));
}

test('render --monitoring --runbook-base-url: every alert links PAGE#alert-name, and a firing alert carries that link (promtool)', async () => {
  const spec = await renderedRules(['--monitoring', '--runbook-base-url', PAGE]);
  const rules = spec.groups[0].rules;
  assert.ok(rules.length >= 5);
  for (const r of rules) assert.equal(r.annotations.runbook_url, `${PAGE}#${r.alert.toLowerCase()}`);
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-runbook-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify(spec));
    const check = await promtool(['check', 'rules', join(dir, 'rules.yaml')]);
    assert.equal(check.code, 0, check.out);
    const alert = rules.find((r) => r.alert === 'KvgateNoReadyEndpoints')!;
    const unit = {
      rule_files: ['rules.yaml'],
      evaluation_interval: '1m',
      tests: [{ interval: '1m', input_series: [{ series: 'inference_pool_ready_pods{name="llm"}', values: '0x10' }], alert_rule_test: [{ eval_time: '5m', alertname: alert.alert, exp_alerts: [{ exp_labels: { severity: 'critical', pool: 'llm' }, exp_annotations: { summary: alert.annotations.summary, runbook_url: `${PAGE}#kvgatenoreadyendpoints` } }] }] }],
    };
    writeFileSync(join(dir, 'tests.yaml'), stringify(unit));
    const run = await promtool(['test', 'rules', join(dir, 'tests.yaml')]);
    assert.equal(run.code, 0, run.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('render --monitoring without --runbook-base-url keeps the relative docs/monitoring.md#alert-name', async () => {
  const spec = await renderedRules(['--monitoring']);
  for (const r of spec.groups[0].rules) assert.equal(r.annotations.runbook_url, `docs/monitoring.md#${r.alert.toLowerCase()}`);
});

test('--runbook-base-url: an absolute http(s) URL without a fragment, with --monitoring; errors name the flag', async () => {
  for (const bad of ['docs/monitoring.md', 'ftp://example.com/monitoring.md', `${PAGE}#alerts`, 'https://']) {
    const r = await runKvgate([...base, '--monitoring', '--runbook-base-url', bad]);
    assert.equal(r.code, 1, `${bad}: ${r.stdout.slice(0, 200)}`);
    assert.match(r.stderr, /^kvgate: --runbook-base-url ".*" must be an absolute http:\/\/ or https:\/\/ URL without a #fragment/m, bad);
    assert.equal(r.stdout, '', 'nothing rendered');
  }
  const alone = await runKvgate([...base, '--runbook-base-url', PAGE]);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /^kvgate: --runbook-base-url applies with --monitoring only/m);
});
