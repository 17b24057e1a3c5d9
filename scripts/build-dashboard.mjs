#!/usr/bin/env node
// Bundles the live dashboard (web/dashboard: TypeScript + uPlot from npm) into ONE self-contained
// page, dist/dashboard/index.html, that `serveDashboard` sends as is: no external requests at run time.
// Runs in `npm run build` / `prepare` and before the tests.
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const web = join(root, 'web', 'dashboard');
const out = join(root, 'dist', 'dashboard');

const result = await build({
  entryPoints: [join(web, 'main.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  write: false,
  legalComments: 'inline',
  logLevel: 'warning',
});
const js = result.outputFiles[0].text;
const css = readFileSync(join(root, 'node_modules', 'uplot', 'dist', 'uPlot.min.css'), 'utf8') + readFileSync(join(web, 'style.css'), 'utf8');
const template = readFileSync(join(web, 'index.html'), 'utf8');
// "</" inside inline script/style would end the element early.
const html = template
  .replace('/*STYLE*/', () => css.replace(/<\//g, '<\\/'))
  .replace('/*SCRIPT*/', () => js.replace(/<\/(script)/gi, '<\\/$1'));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'index.html'), html);
if (!process.argv.includes('--quiet')) console.log(`dashboard: ${join('dist', 'dashboard', 'index.html')} (${(html.length / 1024).toFixed(1)} KiB)`);
