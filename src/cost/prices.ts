import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KvgateError, ErrorCode } from '../shared/errors.js';

const PRICES_FILE = fileURLToPath(new URL('../../data/prices.json', import.meta.url));

const PriceFile = z.object({
  currency: z.string(),
  updated: z.string(),
  note: z.string().optional(),
  items: z.array(
    z.object({ id: z.string(), unit: z.string(), pricing: z.record(z.string(), z.number().nonnegative()), region: z.string(), source: z.string(), date: z.string() }),
  ),
  accelerators: z.record(z.string(), z.object({ item: z.string(), perNode: z.number().int().positive(), node: z.string() })),
  scenarios: z.record(z.string(), z.object({ description: z.string(), hourly: z.number().positive(), throughputRps: z.number().positive().optional(), source: z.string() })),
}).superRefine((book, ctx) => {
  // Every accelerator must name a priced item: pricing it must never find nothing at run time.
  const ids = new Set(book.items.map((i) => i.id));
  for (const [name, acc] of Object.entries(book.accelerators)) {
    if (!ids.has(acc.item)) ctx.addIssue({ code: 'custom', path: ['accelerators', name, 'item'], message: `"${acc.item}" is not the id of any entry in items (ids: ${[...ids].join(', ')})` });
  }
});
export type PriceBook = z.infer<typeof PriceFile>;

/**
 * The dated price book shipped in data/prices.json (or another file of the same shape).
 * Throws InvalidConfig naming the file and the field when it cannot be read, does not match the
 * shape, or an accelerator names an item the file does not price.
 */
export function loadPrices(path = PRICES_FILE): PriceBook {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KvgateError(ErrorCode.InvalidConfig, `${path}: cannot read price file: ${(err as Error).message}`);
  }
  const p = PriceFile.safeParse(raw);
  if (!p.success) throw new KvgateError(ErrorCode.InvalidConfig, `${path}: ${z.prettifyError(p.error)}`);
  return p.data;
}

/**
 * Hourly price (USD) of `nodes` accelerator nodes at a pricing tier, plus the cluster fee when
 * asked. Throws InvalidConfig for an unknown accelerator or tier, or a fee the file does not price.
 */
export function hourlyFor(book: PriceBook, accelerator: string, nodes: number, tier: string, clusterFee: boolean): { hourly: number; detail: string } {
  const acc = book.accelerators[accelerator];
  if (!acc) throw new KvgateError(ErrorCode.InvalidConfig, `unknown --accelerator "${accelerator}" (known: ${Object.keys(book.accelerators).join(', ')})`, { param: 'accelerator' });
  const item = book.items.find((i) => i.id === acc.item)!;
  const unit = item.pricing[tier];
  if (unit === undefined) throw new KvgateError(ErrorCode.InvalidConfig, `no "${tier}" price for ${accelerator} (known: ${Object.keys(item.pricing).join(', ')})`, { param: 'pricing' });
  let hourly = unit * acc.perNode * nodes;
  let detail = `${nodes} × ${acc.node} × ${acc.perNode} × $${unit}/${item.unit} (${tier}, ${item.region}, ${item.date})`;
  if (clusterFee) {
    const fee = book.items.find((i) => i.id === 'gke-cluster')?.pricing['on-demand'];
    if (fee === undefined) throw new KvgateError(ErrorCode.InvalidConfig, '--cluster-fee: the price file has no "gke-cluster" item with an on-demand price', { param: 'cluster-fee' });
    hourly += fee;
    detail += ` + $${fee}/h GKE fee`;
  }
  return { hourly, detail };
}
