// The architecture rules anyone can check (`npm run check:structure`): no import cycles; folders
// import only what docs/ARCHITECTURE.md allows; the two ingresses hold protocol code only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

const SRC = join(repoRoot, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/**
 * src-relative path → src-relative paths it imports (static, re-exports and dynamic import()).
 * `runtimeOnly` leaves out `import type` (erased at compile time, so it cannot form a load cycle).
 */
function graph(runtimeOnly = false): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const f of files(SRC)) {
    const text = readFileSync(f, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s(type\s)?[^'";]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
      if (runtimeOnly && m[1]) continue;
      const spec = m[2] ?? m[3];
      deps.push(relative(SRC, resolve(dirname(f), spec.replace(/\.js$/, '.ts'))));
    }
    g.set(relative(SRC, f), deps);
  }
  return g;
}

const top = (p: string) => p.split('/')[0];

test('no import cycles in src/ (modules that load each other)', () => {
  const g = graph(true);
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const visit = (n: string, path: string[]) => {
    if (state.get(n) === 2) return;
    if (state.get(n) === 1) return void cycles.push([...path.slice(path.indexOf(n)), n].join(' → '));
    state.set(n, 1);
    for (const d of g.get(n) ?? []) visit(d, [...path, n]);
    state.set(n, 2);
  };
  for (const n of g.keys()) visit(n, []);
  assert.deepEqual(cycles, []);
});

const ALLOWED: Record<string, string[]> = {
  shared: ['shared'],
  engine: ['engine', 'shared'],
  router: ['router', 'shared'],
  datalayer: ['datalayer', 'router', 'shared'],
  sim: ['sim', 'engine', 'shared'],
  gateway: ['gateway', 'runtime', 'router', 'datalayer', 'observability', 'shared'],
  extproc: ['extproc', 'runtime', 'router', 'datalayer', 'observability', 'shared'],
  bench: ['bench', 'shared'],
  observability: ['observability', 'router', 'shared'],
  runtime: ['runtime', 'router', 'datalayer', 'observability', 'shared'],
};

test('folders import only what the architecture allows (router/ only shared/, engine/ only shared/, bench/ never router/)', () => {
  const bad: string[] = [];
  for (const [from, deps] of graph()) {
    const allowed = ALLOWED[top(from)];
    if (!allowed) continue;
    for (const d of deps) if (!allowed.includes(top(d))) bad.push(`${from} → ${d}`);
  }
  assert.deepEqual(bad, []);
});

test('the ingresses are protocol adapters: routing, bookkeeping, usage, metrics and logging live in the request lifecycle', () => {
  for (const f of ['gateway/server.ts', 'extproc/stream-processor.ts']) {
    const text = readFileSync(join(SRC, f), 'utf8');
    for (const forbidden of ['.pick(', 'onFirstToken', 'onComplete(', 'onRetry(', 'observeRequest', 'observeScheduling', 'UsageTap', 'parseOpenAIRequest', "'request')"]) {
      assert.ok(!text.includes(forbidden), `${f} uses ${forbidden}`);
    }
    const routerImports = (graph().get(f) ?? []).filter((d) => top(d) === 'router');
    assert.deepEqual(routerImports.filter((d) => !/^router\/(requestcontrol\/index|api|index|objectives|prompt\/chat-templates|observability\/epp-metrics|parse-request)\.ts$/.test(d)), [], `${f} reaches into router internals`);
  }
});
