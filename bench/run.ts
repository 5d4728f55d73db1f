import { coreOverhead } from './core-overhead.ts';
import { type BenchResult, printReport, writeResults } from './report.ts';

/**
 * `pnpm bench`: run each bench in turn (one at a time, so they do not compete for the two
 * cores), print its table and write `bench/results/<name>.json`. Add Redis, Postgres or proxy
 * benches as further modules returning a BenchResult.
 */
const BENCHES: { name: string; run: () => Promise<BenchResult> }[] = [
  { name: 'core-overhead', run: coreOverhead },
];

let failed = false;
for (const bench of BENCHES) {
  const started = performance.now();
  const result = await bench.run();
  printReport(result);
  const file = writeResults(result);
  console.log(`\n${bench.name}: ${((performance.now() - started) / 1000).toFixed(1)} s, wrote ${file}`);
  // A missed target is a finding to report; a failed check means the numbers are not what they claim.
  if (result.checks.some((c) => !c.ok)) failed = true;
}
if (failed) {
  console.error('\nsome checks failed: the timings above do not measure what they claim');
  process.exitCode = 1;
}
