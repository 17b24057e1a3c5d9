import type { CheckRow } from './checks.js';

/**
 * The title over the table: what was checked, worded so it cannot be taken for a command line
 * (it was `kvgate verify http://HOST`, which docs showed above the table and the CLI refuses:
 * verify takes --url, not an argument).
 */
export function verifyTitle(target: { url: string } | { operators: true }): string {
  return 'url' in target ? `Verification of ${target.url}` : "Verification of the cluster's operators (Kubernetes API)";
}

/** The seed's verification table: a title line, `| Test | Status | Result`, then each non-PASS row's diagnosis. */
export function formatVerifyTable(title: string, rows: CheckRow[], passed: boolean): string {
  const table = [['Test', 'Status', 'Result'], ...rows.map((r) => [r.test, r.status, r.result])];
  const w = [0, 1].map((c) => Math.max(...table.map((t) => t[c].length)));
  let out = `${title}\n\n`;
  for (const [i, t] of table.entries()) {
    out += `| ${t[0].padEnd(w[0])} | ${t[1].padEnd(w[1])} | ${t[2]}\n`;
    if (i === 0) out += `|${'-'.repeat(w[0] + 2)}|${'-'.repeat(w[1] + 2)}|--------\n`;
  }
  const failed = rows.filter((r) => r.diagnosis && r.status !== 'PASS');
  if (failed.length) {
    out += '\n';
    for (const r of failed) out += `${r.status} ${r.test}: ${r.diagnosis}\n`;
  }
  out += `\n${passed ? 'all required checks passed' : 'verification FAILED'}\n`;
  return out;
}
