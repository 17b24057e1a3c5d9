import { clusterVerified, type PreflightRow } from './preflight-types.js';

/** The operator's table: `STATUS  check  detail`, a `fix:` line under each failure. */
export function formatPreflightTable(rows: PreflightRow[], passed: boolean): string {
  const w = Math.max(...rows.map((r) => r.check.length));
  const verified = clusterVerified(rows);
  let out = '';
  for (const r of rows) out += `${r.status.padEnd(4)}  ${r.check.padEnd(w)}  ${r.detail}${r.status === 'FAIL' && r.hint ? `\n      fix: ${r.hint}` : ''}\n`;
  out += `\n${verified ? '' : 'no cluster configured: only local tools were checked\n'}`;
  out += `${passed ? (verified ? 'preflight passed' : 'preflight passed for the local checks only: the cluster was NOT verified') : 'preflight FAILED'}\n`;
  return out;
}

const MARK = { PASS: '✅', FAIL: '❌', SKIP: '➖' } as const;

/**
 * `--customer`: the same checks for someone who did not write the manifests (the seed's
 * `preflight-check.sh --customer`): grouped under headings, ✅ / ❌ / ➖ (not checked), and a
 * numbered list of what to do before deploying.
 */
export function formatPreflightCustomer(rows: PreflightRow[], passed: boolean): string {
  let out = 'kvgate preflight — is this environment ready for the deployment?\n';
  const groups = [...new Set(rows.map((r) => r.group))];
  for (const g of groups) {
    out += `\n${g}\n`;
    const inGroup = rows.filter((x) => x.group === g);
    for (let i = 0; i < inGroup.length; i++) {
      const r = inGroup[i];
      // Checks skipped for one reason ("no cluster configured …") read better as one line.
      let j = i;
      while (r.status === 'SKIP' && j + 1 < inGroup.length && inGroup[j + 1].status === 'SKIP' && inGroup[j + 1].detail === r.detail) j++;
      if (j > i) {
        out += `  ${MARK.SKIP} not checked (${r.detail}): ${inGroup.slice(i, j + 1).map((x) => x.check).join(', ')}\n`;
        i = j;
      } else out += `  ${MARK[r.status]} ${r.check}: ${r.detail}\n`;
    }
  }
  const todo = rows.filter((r) => r.status === 'FAIL' && r.required);
  const verified = clusterVerified(rows);
  // Without a kubeconfig nothing about the cluster was checked: "Ready to deploy" would be a
  // promise the run cannot make, so the verdict says what is still unknown.
  if (passed && verified) out += `\n✅ Ready to deploy: every required check passed.\n`;
  else if (passed) out += `\n➖ Cluster not verified: the local checks passed, but no kubeconfig was found, so the cluster, its CRDs, namespace and secrets were not checked.\n  Before deploying, run kvgate preflight again with the cluster's kubeconfig (--kubeconfig, $KUBECONFIG or ~/.kube/config).\n`;
  else {
    out += `\n❌ Not ready: ${todo.length} thing${todo.length === 1 ? '' : 's'} to fix first.\n`;
    todo.forEach((r, i) => (out += `  ${i + 1}. ${r.check} — ${r.detail}${r.hint ? `\n     What to do: ${r.hint}` : ''}\n`));
    if (!verified) out += `  The cluster was not verified (no kubeconfig): run kvgate preflight again with it before deploying.\n`;
  }
  return out;
}
