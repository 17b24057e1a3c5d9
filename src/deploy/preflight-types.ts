export type Status = 'PASS' | 'FAIL' | 'SKIP';

/** One line of `kvgate preflight`. */
export interface PreflightRow {
  /** Section of the customer-facing report: "Tools", "Google Cloud", "Cluster". */
  group: string;
  check: string;
  status: Status;
  detail: string;
  /** How to fix a FAIL. */
  hint?: string;
  /** A FAIL of a required row fails the preflight. */
  required: boolean;
}

/** The detail of every cluster row when no kubeconfig was found. */
export const NO_CLUSTER = 'no cluster configured (no kubeconfig): only local checks ran';

/**
 * False when the cluster rows were skipped for want of a kubeconfig: such a run passes (nothing
 * required failed, and it is the documented first step before the cluster exists) but must not
 * read as "ready to deploy" — nothing about the cluster was verified.
 */
export function clusterVerified(rows: PreflightRow[]): boolean {
  return !rows.some((r) => r.group === 'Cluster' && r.status === 'SKIP' && r.detail === NO_CLUSTER);
}
