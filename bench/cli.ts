import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAuditLog } from '../packages/cli/src/audit-log-fixture.ts';
import type { BenchResult, Check, MetricRow } from './report.ts';

/**
 * The operator's command line, as a user runs it (the built `spendguard`, child processes):
 * - start-up: `spendguard --help` against bare `node -e ''` in the same run (goal: well under 300 ms);
 * - `audit export` and `audit verify` of 100,000 and 1,000,000-row SQLite logs in a 96 MB heap: wall time and peak RSS
 *   (GNU time's max resident set), to show they stream in constant memory.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/dist/bin.js');
const SOURCE_BIN = join(ROOT, 'packages/cli/src/bin.ts');
const ROWS = Number(process.env.SPENDGUARD_BENCH_AUDIT_ROWS ?? 1_000_000);
/** The V8 heap the export and verify run in. */
const HEAP_MB = 96;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function timeRuns(args: string[], runs: number): number {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (result.status !== 0) throw new Error(`${args.join(' ')} exited ${result.status}`);
    ms.push(performance.now() - started);
  }
  return median(ms);
}

/** Run the CLI under GNU time: wall seconds and peak RSS in MB. */
function measured(
  args: string[],
  cwd: string,
): { seconds: number; peakRssMb: number; stdout: string; stderr: string } {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', 'PEAK_RSS_KB=%M', process.execPath, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const seconds = (performance.now() - started) / 1000;
  const kb = Number(/PEAK_RSS_KB=(\d+)/.exec(result.stderr)?.[1] ?? Number.NaN);
  if (result.status !== 0)
    throw new Error(
      `spendguard ${args.slice(1).join(' ')} exited ${result.status}: ${result.stderr.slice(-500)}`,
    );
  return { seconds, peakRssMb: kb / 1024, stdout: result.stdout, stderr: result.stderr };
}

export async function cli(): Promise<BenchResult> {
  if (!existsSync(BIN))
    execFileSync('pnpm', ['--filter', '@spendguard/cli', 'build'], { cwd: ROOT, stdio: 'ignore' });
  const checks: Check[] = [];
  const metrics: MetricRow[] = [];

  const bare = timeRuns(['-e', ''], 15);
  const help = timeRuns([BIN, '--help'], 15);
  metrics.push(
    {
      store: '—',
      metric: 'node -e "" (bare start-up)',
      value: bare,
      unit: 'ms',
      target: null,
      meetsTarget: null,
      note: 'median of 15',
    },
    {
      store: '—',
      metric: 'spendguard --help (built)',
      value: help,
      unit: 'ms',
      target: '< 300 ms',
      meetsTarget: help < 300,
      note: 'median of 15',
    },
    {
      store: '—',
      metric: 'spendguard --help / bare node',
      value: help / bare,
      unit: '×',
      target: null,
      meetsTarget: null,
    },
  );

  const dir = mkdtempSync(join(tmpdir(), 'spendguard-bench-cli-'));
  try {
    const policy = join(dir, 'spendguard.yaml');
    writeFileSync(policy, 'policies:\n  billing-agent:\n    stripe: { allow: [POST /v1/charges] }\n');
    // Two sizes in one run: streaming shows as the same peak RSS for ten times the rows.
    const peaks: Record<string, number[]> = { export: [], verify: [] };
    for (const rows of [ROWS / 10, ROWS]) {
      const file = join(dir, `audit-${rows}.db`);
      const writing = performance.now();
      writeAuditLog(file, rows, { runs: 500 });
      const common = ['--store', `sqlite:${file}`, '--config', policy];
      const out = join(dir, `export-${rows}.jsonl`);
      // The source bin runs the workspace's TypeScript, so this bench needs no build of core.
      // A 96 MB heap: a command that held the log (634 MB of JSON for 1M rows) could not finish.
      const run = [`--max-old-space-size=${HEAP_MB}`, '--conditions=@spendguard/source', SOURCE_BIN];
      const exported = measured([...run, 'audit', 'export', '--out', out, ...common], dir);
      const lines = Number(execFileSync('wc', ['-l', out], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
      checks.push({
        name: `export of ${rows} wrote every row`,
        expected: rows,
        actual: lines,
        ok: lines === rows,
      });
      const progress = /export \[/.test(exported.stderr);
      checks.push({
        name: `export of ${rows} showed progress`,
        expected: 1,
        actual: progress ? 1 : 0,
        ok: progress,
      });
      const verified = measured([...run, 'audit', 'verify', ...common], dir);
      const intact = verified.stdout.includes(`audit log intact: ${rows} rows`);
      checks.push({
        name: `verify of ${rows} found the log intact`,
        expected: 1,
        actual: intact ? 1 : 0,
        ok: intact,
      });
      const note = `${(statSync(file).size / 1e6).toFixed(0)} MB SQLite (written in ${((performance.now() - writing) / 1000).toFixed(0)} s), ${(statSync(out).size / 1e6).toFixed(0)} MB out`;
      rmSync(out);
      rmSync(file);
      peaks.export?.push(exported.peakRssMb);
      peaks.verify?.push(verified.peakRssMb);
      const label = rows >= 1e6 ? `${rows / 1e6}M` : `${rows / 1e3}k`;
      metrics.push(
        {
          store: 'sqlite',
          metric: `audit export ${label} rows: wall`,
          value: exported.seconds * 1000,
          unit: 'ms',
          target: null,
          meetsTarget: null,
          note,
        },
        {
          store: 'sqlite',
          metric: `audit export ${label} rows: peak RSS`,
          value: exported.peakRssMb,
          unit: 'MB',
          target: null,
          meetsTarget: null,
        },
        {
          store: 'sqlite',
          metric: `audit verify ${label} rows: wall`,
          value: verified.seconds * 1000,
          unit: 'ms',
          target: null,
          meetsTarget: null,
        },
        {
          store: 'sqlite',
          metric: `audit verify ${label} rows: peak RSS`,
          value: verified.peakRssMb,
          unit: 'MB',
          target: null,
          meetsTarget: null,
        },
      );
    }
    for (const [what, [small, large]] of Object.entries(peaks) as [string, [number, number]][]) {
      const ratio = large / small;
      metrics.push({
        store: 'sqlite',
        metric: `${what}: peak RSS, 10× the rows`,
        value: ratio,
        unit: '×',
        target: '≤ 1.5×',
        meetsTarget: ratio <= 1.5,
        note: `constant memory: both sizes ran in a ${HEAP_MB} MB heap`,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    name: 'cli',
    title: 'spendguard CLI: start-up, and export/verify of a 1M-row audit log',
    rows: [],
    metrics,
    checks,
  };
}
