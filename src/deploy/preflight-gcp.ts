import { execFile } from 'node:child_process';
import type { PreflightRow } from './preflight-types.js';

/** What a GKE accelerator node pool needs, per accelerator family (the seed's shapes). */
export const ACCELERATOR_SHAPES = {
  tpu: {
    label: 'TPU v6e',
    /** GKE machine type of a 2x2 v6e slice node (4 chips), as the seed's node pool used. */
    machineType: 'ct6e-standard-4t',
    perNode: 4,
    unit: 'chips',
    /** Compute Engine regional quota metrics counting v6e chips are named with V6E. */
    quotaMetric: /V6E/i,
    defaultZone: 'europe-west4-a',
    zones: 'europe-west4-a (the seed\'s), us-east5-a, us-east5-b, us-central1-b, us-east1-d, us-south1-a',
  },
  gpu: {
    label: 'NVIDIA H100 80GB',
    acceleratorType: 'nvidia-h100-80gb',
    perNode: 1,
    unit: 'GPUs',
    quotaMetric: /^NVIDIA_H100_GPUS$/,
    defaultZone: 'us-central1-a',
    zones: 'see `gcloud compute accelerator-types list --filter=name=nvidia-h100-80gb`',
  },
} as const;
export type AcceleratorFamily = keyof typeof ACCELERATOR_SHAPES;

export interface GcpOptions {
  accelerator: AcceleratorFamily;
  zone?: string;
  project?: string;
  /** Accelerator nodes the deployment needs (the seed: 3 TPU nodes, 12 chips). */
  nodes: number;
  env?: NodeJS.ProcessEnv;
}

interface Ran {
  code: number | 'missing';
  stdout: string;
  stderr: string;
}

/** Runs a command; `missing` when it is not on PATH. Never throws. */
export function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve) =>
    execFile(cmd, args, { timeout: timeoutMs, env: env ?? process.env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown }) | null;
      if (e && e.code === 'ENOENT') return resolve({ code: 'missing', stdout: '', stderr: '' });
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    }),
  );
}

function lastLine(s: string): string {
  return s.trim().split('\n').filter(Boolean).at(-1)?.trim() ?? '';
}

function json<T>(s: string): T | undefined {
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}

/**
 * The seed's `preflight-check.sh --tpu|--gpu` cloud checks through `gcloud`: an active account,
 * the project, the Compute and GKE APIs, the zone, the accelerator offered in the zone, and free
 * regional quota for `nodes` accelerator nodes. Each is a row; without gcloud they are skipped.
 */
export async function gcpChecks(o: GcpOptions): Promise<PreflightRow[]> {
  const shape = ACCELERATOR_SHAPES[o.accelerator];
  const zone = o.zone ?? shape.defaultZone;
  const rows: PreflightRow[] = [];
  const g = (args: string[]) => run('gcloud', args, o.env);
  const row = (check: string, status: PreflightRow['status'], detail: string, hint?: string, required = true): PreflightRow => ({ group: 'Google Cloud', check, status, detail, hint, required });

  const auth = await g(['auth', 'list', '--filter=status:ACTIVE', '--format=value(account)']);
  if (auth.code === 'missing') {
    for (const c of ['GCP authentication', 'GCP project', 'GCP APIs', `zone ${zone}`, `${shape.label} in ${zone}`, `${shape.label} quota`]) rows.push(row(c, 'SKIP', 'gcloud is not installed', undefined, false));
    return rows;
  }
  const account = lastLine(auth.stdout);
  if (auth.code !== 0 || !account) {
    rows.push(row('GCP authentication', 'FAIL', auth.code !== 0 ? lastLine(auth.stderr) || 'gcloud auth list failed' : 'no active account', 'gcloud auth login (and gcloud auth application-default login)'));
    return rows;
  }
  rows.push(row('GCP authentication', 'PASS', account));

  let project = o.project;
  if (!project) {
    const p = await g(['config', 'get-value', 'project']);
    project = p.code === 0 ? lastLine(p.stdout) : undefined;
    if (project === '(unset)') project = undefined;
  }
  if (!project) {
    rows.push(row('GCP project', 'FAIL', 'no project given and none configured', 'pass --project PROJECT, or gcloud config set project PROJECT'));
    return rows;
  }
  const desc = await g(['projects', 'describe', project, '--format=json']);
  const state = json<{ lifecycleState?: string }>(desc.stdout)?.lifecycleState;
  if (desc.code !== 0 || state !== 'ACTIVE') {
    rows.push(row('GCP project', 'FAIL', desc.code !== 0 ? `${project}: ${lastLine(desc.stderr) || 'cannot describe it'}` : `${project} is ${state ?? 'not active'}`, `check the project id and that ${account} has a role on it (Owner or Editor, as the seed needed)`));
    return rows;
  }
  rows.push(row('GCP project', 'PASS', `${project} (ACTIVE)`));

  const apis = await g(['services', 'list', '--enabled', `--project=${project}`, '--format=value(config.name)']);
  const enabled = new Set(apis.stdout.split('\n').map((s) => s.trim()).filter(Boolean));
  const needed = ['compute.googleapis.com', 'container.googleapis.com'];
  const missing = needed.filter((a) => !enabled.has(a));
  if (apis.code !== 0) rows.push(row('GCP APIs', 'FAIL', lastLine(apis.stderr) || 'gcloud services list failed', `gcloud services enable ${needed.join(' ')} --project ${project}`));
  else if (missing.length) rows.push(row('GCP APIs', 'FAIL', `not enabled: ${missing.join(', ')}`, `gcloud services enable ${missing.join(' ')} --project ${project}`));
  else rows.push(row('GCP APIs', 'PASS', needed.join(', ')));

  const z = await g(['compute', 'zones', 'describe', zone, `--project=${project}`, '--format=json']);
  const zstatus = json<{ status?: string }>(z.stdout)?.status;
  if (z.code !== 0 || zstatus !== 'UP') {
    rows.push(row(`zone ${zone}`, 'FAIL', z.code !== 0 ? lastLine(z.stderr) || 'unknown zone' : `status ${zstatus ?? '?'}`, `use a zone offering ${shape.label}: ${shape.zones}`));
    return rows;
  }
  rows.push(row(`zone ${zone}`, 'PASS', 'UP'));

  const offered =
    o.accelerator === 'tpu'
      ? await g(['compute', 'machine-types', 'describe', ACCELERATOR_SHAPES.tpu.machineType, `--zone=${zone}`, `--project=${project}`, '--format=json'])
      : await g(['compute', 'accelerator-types', 'describe', ACCELERATOR_SHAPES.gpu.acceleratorType, `--zone=${zone}`, `--project=${project}`, '--format=json']);
  const what = o.accelerator === 'tpu' ? `machine type ${ACCELERATOR_SHAPES.tpu.machineType}` : `accelerator ${ACCELERATOR_SHAPES.gpu.acceleratorType}`;
  if (offered.code !== 0) rows.push(row(`${shape.label} in ${zone}`, 'FAIL', `${what} is not offered in ${zone}`, `zones with ${shape.label}: ${shape.zones} (--zone)`));
  else rows.push(row(`${shape.label} in ${zone}`, 'PASS', `${what} offered`));

  const region = zone.replace(/-[a-z]$/, '');
  const r = await g(['compute', 'regions', 'describe', region, `--project=${project}`, '--format=json']);
  const quotas = json<{ quotas?: { metric?: string; limit?: number; usage?: number }[] }>(r.stdout)?.quotas ?? [];
  const need = o.nodes * shape.perNode;
  const matching = quotas.filter((q) => q.metric && shape.quotaMetric.test(q.metric) && !/PREEMPTIBLE|COMMITTED|SPOT/.test(q.metric));
  if (r.code !== 0) {
    rows.push(row(`${shape.label} quota`, 'FAIL', lastLine(r.stderr) || `cannot read quotas of ${region}`, 'check that the account may read Compute Engine quotas (roles/compute.viewer)'));
  } else if (matching.length === 0) {
    rows.push(row(`${shape.label} quota`, 'SKIP', `no ${shape.label} metric among ${region}'s Compute Engine quotas; check IAM & Admin → Quotas in the console (need ${need} ${shape.unit})`, undefined, false));
  } else {
    const free = matching.map((q) => ({ metric: q.metric!, free: (q.limit ?? 0) - (q.usage ?? 0), limit: q.limit ?? 0 })).sort((a, b) => b.free - a.free)[0];
    const detail = `${need} ${shape.unit} needed (${o.nodes} nodes × ${shape.perNode}); ${free.free} of ${free.limit} free in ${region} (${free.metric})`;
    if (free.free >= need) rows.push(row(`${shape.label} quota`, 'PASS', detail));
    else rows.push(row(`${shape.label} quota`, 'FAIL', detail, `request more ${free.metric} quota in ${region} (IAM & Admin → Quotas), or deploy fewer replicas (--nodes)`));
  }
  return rows;
}
