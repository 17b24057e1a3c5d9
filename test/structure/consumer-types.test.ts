// A project that depends on kvgate and imports its public entry points (docs/router.md) must
// type-check with skipLibCheck false: kvgate's .d.ts may only reach declarations a consumer's
// install has. An offline `npm install` of the packed package is not possible here (the npm cache
// holds tarballs, not the registry's metadata), so the consumer is assembled the way npm would lay
// it out: node_modules/kvgate with package.json's `exports` and freshly emitted declarations, and
// kvgate's production dependency closure (`npm ls --omit=dev`) beside it — devDependencies (their
// @types packages) are not there to hide a missing one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { repoRoot } from '../helpers/cli.js';

const run = promisify(execFile);
const TSC = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

test("a consumer's tsc (strict, skipLibCheck false) accepts kvgate/router, kvgate/datalayer and kvgate/engine through the exports map", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvgate-consumer-'));
  try {
    const nm = join(dir, 'node_modules');
    const pkgDir = join(nm, 'kvgate');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
    mkdirSync(pkgDir, { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: pkg.name, version: pkg.version, type: pkg.type, exports: pkg.exports, dependencies: pkg.dependencies }));
    await run(process.execPath, [TSC, '-p', join(repoRoot, 'tsconfig.json'), '--emitDeclarationOnly', '--sourceMap', 'false', '--outDir', join(pkgDir, 'dist')], { cwd: repoRoot });
    // kvgate's production dependencies, as npm hoisted them (nested ones come inside their parents).
    const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repoRoot, maxBuffer: 16 << 20 }).catch((e: { stdout: string }) => e);
    const top = join(repoRoot, 'node_modules') + sep;
    const deps = [...new Set(stdout.split('\n').filter((p) => p.startsWith(top) && !p.slice(top.length).includes(`${sep}node_modules${sep}`)).map((p) => p.slice(top.length)))];
    assert.ok(deps.includes(join('@kubernetes', 'client-node')) && deps.includes(join('@types', 'node')), `production closure read (${deps.length} packages)`);
    for (const d of deps) {
      mkdirSync(dirname(join(nm, d)), { recursive: true });
      symlinkSync(join(top, d), join(nm, d), 'dir');
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { kvgate: '*' } }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        // preserveSymlinks: resolve from node_modules here, not from the repository's (which has the devDependencies).
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'], preserveSymlinks: true },
        files: ['index.ts'],
      }),
    );
    writeFileSync(
      join(dir, 'index.ts'),
      [
        "import { createRouter, loadConfig, Director } from 'kvgate/router';",
        "import { PoolRuntime, StaticEndpointSource, KubernetesEndpointSource, type PoolOptions } from 'kvgate/datalayer';",
        "import * as engine from 'kvgate/engine';",
        'const router = createRouter({ config: loadConfig({ preset: "kvgate" }) });',
        'export const used = [router, Director, PoolRuntime, StaticEndpointSource, KubernetesEndpointSource, engine];',
        'export type Options = PoolOptions;',
        '',
      ].join('\n'),
    );
    const out = await run(process.execPath, [TSC, '-p', dir], { cwd: dir }).then(
      () => '',
      (e: { stdout: string; stderr: string }) => e.stdout + e.stderr,
    );
    assert.equal(out.split(dir + sep).join('').split(relative(dir, repoRoot)).join('<repo>'), '', 'tsc reports no error');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
