import { cli } from './cli.ts';
import { coreOverhead } from './core-overhead.ts';
import { decode } from './decode.ts';
import { proxy } from './proxy.ts';
import { type BenchResult, printReport, writeResults } from './report.ts';
import { revokeLatency } from './revoke-latency.ts';
import { storeRoundTrips } from './store-round-trips.ts';

/**
 * `pnpm bench`: run each bench in turn (one at a time, so they do not compete for the two
 * cores), print its table and write `bench/results/<name>.json`. Add further benches (a proxy,
 * say) as modules returning a BenchResult. The Redis and Postgres benches need the servers of
 * SPENDGUARD_BENCH_REDIS_URL and SPENDGUARD_BENCH_POSTGRES_URL (default: this machine's).
 */
const ONLY = process.argv.slice(2);
const ALL: { name: string; run: () => Promise<BenchResult> }[] = [
  { name: 'core-overhead', run: coreOverhead },
  { name: 'decode', run: decode },
  { name: 'store-round-trips', run: storeRoundTrips },
  { name: 'revoke-latency', run: revokeLatency },
  { name: 'proxy', run: proxy },
  { name: 'cli', run: cli },
];

/** `pnpm bench decode core-overhead` runs only the named benches; no names runs them all. */
const BENCHES = ONLY.length === 0 ? ALL : ALL.filter((b) => ONLY.includes(b.name));

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
