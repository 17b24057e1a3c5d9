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
