// A node:test reporter that prints, when the run ends, the test files that took longest: the sum
// of each file's top-level test durations (they run one after another inside their file). The
// suite has to finish within CI's 20 minutes on 2 cores with other work on the machine, so the
// files that cost the most should be visible in every run, not found by bisecting.
// run-tests.mjs adds it beside the TAP reporter, writing to stderr.

/** Files shown; a file over WARN_S seconds is flagged (the per-test limit is 300 s). */
const SHOWN = 12;
const WARN_S = 120;

export default async function* fileTimes(source) {
  const perFile = new Map();
  for await (const event of source) {
    if ((event.type !== 'test:pass' && event.type !== 'test:fail') || event.data.nesting !== 0) continue;
    const file = event.data.file ?? '(unknown file)';
    perFile.set(file, (perFile.get(file) ?? 0) + (event.data.details?.duration_ms ?? 0));
  }
  if (perFile.size === 0) return;
  const root = process.cwd() + '/';
  const rows = [...perFile].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, ms]) => s + ms, 0);
  const lines = rows.slice(0, SHOWN).map(([file, ms]) => {
    const s = ms / 1000;
    return `  ${s.toFixed(1).padStart(6)} s  ${file.startsWith(root) ? file.slice(root.length) : file}${s > WARN_S ? '   <- over 120 s: split it or make it cheaper' : ''}`;
  });
  yield `\nslowest test files (${rows.length} files, ${(total / 1000).toFixed(0)} s of test time in all):\n${lines.join('\n')}\n`;
}
