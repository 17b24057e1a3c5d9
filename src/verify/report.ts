import type { CheckRow } from './checks.js';

/** The seed's verification table: `| Test | Status | Result`, then each non-PASS row's diagnosis. */
export function formatVerifyTable(target: string, rows: CheckRow[], passed: boolean): string {
  const table = [['Test', 'Status', 'Result'], ...rows.map((r) => [r.test, r.status, r.result])];
  const w = [0, 1].map((c) => Math.max(...table.map((t) => t[c].length)));
  let out = `kvgate verify ${target}\n\n`;
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
