import { Command, Option } from 'commander';
import { intArg, listArg } from '../parse.js';

export function registerPreflight(program: Command): void {
  program
    .command('preflight')
    .description("Check local tools, Google Cloud (with --tpu/--gpu) and the cluster before deploying (the seed's preflight-check.sh; runs without a cluster too)")
    .option('--tpu', 'GKE TPU v6e deployment: also check gcloud auth, project, APIs, zone, ct6e-standard-4t and v6e chip quota (shorthand for --accelerator tpu)', false)
    .option('--gpu', 'GKE GPU deployment: the same for NVIDIA H100 (shorthand for --accelerator gpu)', false)
    .addOption(new Option('--accelerator <family>', 'accelerator family of the GKE node pool').choices(['tpu', 'gpu']))
    .option('--zone <zone>', 'GCP zone (default: europe-west4-a for TPU, us-central1-a for GPU)')
    .option('--project <id>', 'GCP project (default: gcloud config get-value project)')
    .option('--nodes <n>', 'accelerator nodes the deployment needs (TPU: 4 chips each; GPU: 1 each)', intArg('--nodes', 1), 3)
    .option('--customer', 'customer-friendly report: grouped, with a numbered list of what to fix', false)
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, the in-cluster service account, ~/.kube/config)')
    .option('--namespace <ns>', 'workload namespace', 'llm-d-inference-scheduling')
    .option('--secret <names>', 'secrets the manifests reference (repeatable or comma list)', listArg)
    .option('--kserve', 'also require KServe LLMInferenceService', false)
    .option('--json', 'print the rows as JSON', false)
    .action(async (o, cmd: Command) => {
      const { KvgateError, ErrorCode } = await import('../../shared/errors.js');
      const chosen = [o.tpu && 'tpu', o.gpu && 'gpu', o.accelerator].filter(Boolean) as string[];
      if (new Set(chosen).size > 1) throw new KvgateError(ErrorCode.InvalidConfig, `give one accelerator: --tpu, --gpu or --accelerator (got ${chosen.join(' and ')})`);
      const { checkPreflightArgs } = await import('../../deploy/preflight-args.js');
      checkPreflightArgs({ namespace: o.namespace, secrets: o.secret ?? [], zone: o.zone, project: o.project, accelerator: chosen[0], given: (k) => cmd.getOptionValueSource(k) === 'cli' });
      const { runPreflight, preflightPassed } = await import('../../deploy/preflight.js');
      const { formatPreflightTable, formatPreflightCustomer } = await import('../../deploy/preflight-report.js');
      const rows = await runPreflight({ kubeconfig: o.kubeconfig, namespace: o.namespace, secrets: o.secret ?? [], kserve: o.kserve, accelerator: chosen[0] as 'tpu' | 'gpu' | undefined, zone: o.zone, project: o.project, nodes: o.nodes });
      const ok = preflightPassed(rows);
      const { clusterVerified } = await import('../../deploy/preflight-types.js');
      if (o.json) process.stdout.write(`${JSON.stringify({ passed: ok, cluster: clusterVerified(rows), rows })}\n`);
      else process.stdout.write(o.customer ? formatPreflightCustomer(rows, ok) : formatPreflightTable(rows, ok));
      if (!ok) process.exitCode = 1;
    });
}
