#!/usr/bin/env node
// `npm run image [-- options]`: builds the kvgate container image from ./Containerfile with
// docker (when its daemon answers), podman or buildah — whichever is found first.
//   --tag NAME           image name (default kvgate:<package version>)
//   --base-image IMAGE   BASE_IMAGE build-arg (default: the Containerfile's, an official Node 20 image)
//   --builder NAME       docker | podman | buildah (default: the first that works)
//   --isolation KIND     buildah/podman isolation, e.g. chroot inside an unprivileged container
// Behind a TLS-intercepting proxy, set NODE_EXTRA_CA_CERTS to its CA bundle: podman and buildah
// mount it into the build and npm trusts it (docker build cannot mount files; use a base image
// that already trusts the CA).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (!v || v.startsWith('--')) fail(`${name} needs a value`);
  return v;
};
function fail(msg) {
  console.error(`image: ${msg}`);
  process.exit(2);
}
for (const a of args) if (a.startsWith('--') && !['--tag', '--base-image', '--builder', '--isolation'].includes(a)) fail(`unknown option ${a}`);

const works = (cmd, probe) => {
  try {
    execFileSync(cmd, probe, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
};
const candidates = [
  ['docker', ['info']],
  ['podman', ['--version']],
  ['buildah', ['--version']],
];
const wanted = opt('--builder');
if (wanted && !candidates.some(([c]) => c === wanted)) fail(`--builder must be docker, podman or buildah (got ${wanted})`);
const builder = (wanted ? candidates.filter(([c]) => c === wanted) : candidates).find(([c, probe]) => works(c, probe))?.[0];
if (!builder) fail(wanted ? `${wanted} is not usable here` : 'none of docker (with a running daemon), podman or buildah is installed');

const tag = opt('--tag') ?? `kvgate:${version}`;
const cmd = builder === 'buildah' ? ['bud'] : ['build'];
if (builder !== 'docker') cmd.push('--layers');
const isolation = opt('--isolation');
if (isolation) {
  if (builder === 'docker') fail('--isolation is for podman and buildah');
  cmd.push('--isolation', isolation);
}
const base = opt('--base-image');
if (base) cmd.push('--build-arg', `BASE_IMAGE=${base}`);
const ca = process.env.NODE_EXTRA_CA_CERTS;
if (ca && existsSync(ca) && builder !== 'docker') cmd.push('-v', `${ca}:/run/kvgate-build-ca.crt:ro`, '--build-arg', 'NODE_EXTRA_CA_CERTS=/run/kvgate-build-ca.crt');
cmd.push('-t', tag, '-f', 'Containerfile', '.');
console.error(`image: ${builder} ${cmd.join(' ')}`);
const r = spawnSync(builder, cmd, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
console.error(`image: built ${tag}`);
