/**
 * A normal draw around `mean` with standard deviation `stdDev`, clamped to ±70 % of the mean —
 * llm-d-inference-sim's rule for its `*-std-dev` latency flags (which it also caps at 30 % of
 * the mean, so the clamp rarely bites). `rng` gives uniform [0, 1) numbers; two are used per draw.
 */
export function gaussianClamped(rng: () => number, mean: number, stdDev: number): number {
  if (stdDev <= 0 || mean <= 0) return mean;
  // Box–Muller; 1 − u keeps the log argument in (0, 1].
  const u = 1 - rng();
  const v = rng();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  const x = mean + z * stdDev;
  return Math.min(mean * 1.7, Math.max(mean * 0.3, x));
}
