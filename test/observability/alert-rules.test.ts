// The PrometheusRule of `kvgate render --monitoring`: promtool check rules, and one promtool unit test
// per alert that fires on trouble and one that stays silent on a healthy fleet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { alertRules, ruleGroup } from '../../src/deploy/monitoring.js';

const PROMTOOL = '/usr/bin/promtool';
const O = { name: 'llm', namespace: 'ns1' };

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  assert.ok(existsSync(PROMTOOL), 'promtool is required: apt-get install prometheus (.ci/run installs it)');
  return new Promise((resolve) => execFile(PROMTOOL, args, { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr })));
}

type Series = { series: string; values: string }[];
/** Per alert: input that must fire it at `at`, and healthy input that must not. Interval 1m. */
const CASES: Record<string, { at: string; fire: Series; ok: Series }> = {
  KvgateNoReadyEndpoints: {
    at: '5m',
    fire: [{ series: 'inference_pool_ready_pods{name="llm"}', values: '0x10' }],
    ok: [{ series: 'inference_pool_ready_pods{name="llm"}', values: '3x10' }],
  },
  KvgatePickerDown: {
    at: '5m',
    fire: [{ series: 'up{job="ns1/llm-epp"}', values: '0x10' }],
    ok: [{ series: 'up{job="ns1/llm-epp"}', values: '1x10' }],
  },
  KvgatePrefixHitRateCollapsed: {
    at: '100m',
    // 80 % for 70 minutes, then 10 %.
    fire: [
      { series: 'vllm:prefix_cache_hits_total{namespace="ns1",instance="a"}', values: '0+80x70 5610+10x40' },
      { series: 'vllm:prefix_cache_queries_total{namespace="ns1",instance="a"}', values: '0+100x110' },
    ],
    ok: [
      { series: 'vllm:prefix_cache_hits_total{namespace="ns1",instance="a"}', values: '0+80x110' },
      { series: 'vllm:prefix_cache_queries_total{namespace="ns1",instance="a"}', values: '0+100x110' },
    ],
  },
  KvgateQueueGrowing: {
    at: '25m',
    fire: [{ series: 'inference_pool_average_queue_size{name="llm"}', values: '0+1x30' }],
    // High but steady: capacity matches load.
    ok: [{ series: 'inference_pool_average_queue_size{name="llm"}', values: '8x30' }],
  },
  KvgateKvCacheSaturated: {
    at: '15m',
    fire: [{ series: 'inference_pool_average_kv_cache_utilization{name="llm"}', values: '0.95x20' }],
    ok: [{ series: 'inference_pool_average_kv_cache_utilization{name="llm"}', values: '0.6x20' }],
  },
  KvgateHighErrorRatio: {
    at: '15m',
    fire: [
      { series: 'inference_objective_request_total{model_name="m",target_model_name="m",priority="0"}', values: '0+100x20' },
      { series: 'inference_objective_request_error_total{model_name="m",target_model_name="m",error_code="ModelServerError"}', values: '0+10x20' },
    ],
    ok: [
      { series: 'inference_objective_request_total{model_name="m",target_model_name="m",priority="0"}', values: '0+100x20' },
      { series: 'inference_objective_request_error_total{model_name="m",target_model_name="m",error_code="ModelServerError"}', values: '0+1x20' },
    ],
  },
  KvgatePoolSpecInvalid: {
    at: '10m',
    // Two picker replicas; one read the invalid edit two minutes in.
    fire: [
      { series: 'kvgate_inference_pool_spec_valid{name="llm",pod="epp-a"}', values: '1 1 0x18' },
      { series: 'kvgate_inference_pool_spec_valid{name="llm",pod="epp-b"}', values: '1x20' },
    ],
    // An invalid edit fixed within three minutes, and another pool's invalid spec.
    ok: [
      { series: 'kvgate_inference_pool_spec_valid{name="llm",pod="epp-a"}', values: '1 1 1 1 1 1 0 0 0 1x11' },
      { series: 'kvgate_inference_pool_spec_valid{name="other",pod="epp-c"}', values: '0x20' },
    ],
  },
  KvgateEventStreamStale: {
    at: '15m',
    fire: [
      { series: 'inference_objective_request_total{model_name="m",target_model_name="m",priority="0"}', values: '0+100x20' },
      { series: 'vllm:prefix_cache_queries_total{namespace="ns1",instance="a"}', values: '5000x20' },
    ],
    ok: [
      { series: 'inference_objective_request_total{model_name="m",target_model_name="m",priority="0"}', values: '0+100x20' },
      { series: 'vllm:prefix_cache_queries_total{namespace="ns1",instance="a"}', values: '0+500x20' },
    ],
  },
};

test('every alert rule passes promtool check rules and its promtool unit tests (fires on trouble, silent when healthy)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-rules-'));
  const group = ruleGroup(O);
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [group] }));
  const check = await promtool(['check', 'rules', join(dir, 'rules.yaml')]);
  assert.equal(check.code, 0, check.out);
  assert.match(check.out, new RegExp(`SUCCESS: ${alertRules(O).length} rules found`));

  assert.deepEqual(Object.keys(CASES).sort(), alertRules(O).map((a) => a.alert).sort(), 'one unit test per alert');
  const tests = alertRules(O).flatMap((a) => {
    const rule = group.rules.find((r) => r.alert === a.alert)!;
    const c = CASES[a.alert];
    return [
      { name: `${a.alert} fires`, interval: '1m', input_series: c.fire, alert_rule_test: [{ eval_time: c.at, alertname: a.alert, exp_alerts: [{ exp_labels: rule.labels, exp_annotations: rule.annotations }] }] },
      { name: `${a.alert} stays silent`, interval: '1m', input_series: c.ok, alert_rule_test: [{ eval_time: c.at, alertname: a.alert, exp_alerts: [] }] },
    ];
  });
  writeFileSync(join(dir, 'tests.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
  const run = await promtool(['test', 'rules', join(dir, 'tests.yaml')]);
  assert.equal(run.code, 0, run.out);
  assert.match(run.out, /SUCCESS/);
});

test('a broken expectation makes promtool fail (the unit tests can fail)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-rules-'));
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups: [ruleGroup(O)] }));
  const c = CASES.KvgateKvCacheSaturated;
  writeFileSync(join(dir, 'tests.yaml'), stringify({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests: [{ interval: '1m', input_series: c.ok, alert_rule_test: [{ eval_time: c.at, alertname: 'KvgateKvCacheSaturated', exp_alerts: [{ exp_labels: { severity: 'warning', pool: 'llm' } }] }] }] }));
  const run = await promtool(['test', 'rules', join(dir, 'tests.yaml')]);
  assert.notEqual(run.code, 0);
  assert.match(run.out, /FAILED/);
});

test('every alert has a runbook section in docs/monitoring.md, which its runbook_url names', () => {
  const doc = readFileSync(new URL('../../docs/monitoring.md', import.meta.url), 'utf8');
  for (const r of ruleGroup(O).rules) {
    const anchor = String(r.alert).toLowerCase();
    assert.equal((r.annotations as Record<string, string>).runbook_url, `docs/monitoring.md#${anchor}`);
    assert.match(doc, new RegExp(`^### ${r.alert}$`, 'm'), `runbook section for ${r.alert}`);
  }
});
