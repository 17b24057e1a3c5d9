import { Command } from 'commander';
import { listArg } from '../parse.js';

export function registerPreflight(program: Command): void {
  program
    .command('preflight')
    .description('Check that local tools and a cluster are ready for the rendered manifests (runs without a cluster too)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG or ~/.kube/config)')
    .option('--namespace <ns>', 'workload namespace', 'llm-d-inference-scheduling')
    .option('--secret <names>', 'secrets the manifests reference (repeatable or comma list)', listArg)
    .option('--kserve', 'also require KServe LLMInferenceService', false)
    .option('--json', 'print the rows as JSON', false)
    .action(async (o) => {
      const { runPreflight } = await import('../../deploy/preflight.js');
      const rows = await runPreflight({ kubeconfig: o.kubeconfig, namespace: o.namespace, secrets: o.secret ?? [], kserve: o.kserve });
      const ok = rows.every((r) => r.status !== 'FAIL' || !r.required);
      const noCluster = rows.some((r) => r.status === 'SKIP' && r.detail.startsWith('no cluster configured'));
      if (o.json) process.stdout.write(`${JSON.stringify({ passed: ok, cluster: !noCluster, rows })}\n`);
      else {
        const w = Math.max(...rows.map((r) => r.check.length));
        for (const r of rows) process.stdout.write(`${r.status.padEnd(4)}  ${r.check.padEnd(w)}  ${r.detail}${r.status === 'FAIL' && r.hint ? `\n      fix: ${r.hint}` : ''}\n`);
        process.stdout.write(`\n${noCluster ? 'no cluster configured: only local tools were checked\n' : ''}${ok ? 'preflight passed' : 'preflight FAILED'}\n`);
      }
      if (!ok) process.exitCode = 1;
    });
}
