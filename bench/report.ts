import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

/**
 * One measured series: a path through the guard on one backend, against the bare vendor call
 * timed alongside it. Every bench (core, Redis, Postgres, proxy) reports rows of this shape, so
 * results stay comparable across files and runs.
 */
export interface LatencyRow {
  store: string;
  /** `bare` (no guard), `executed` (begin → call → complete) or `replayed` (a stored result). */
  path: string;
  calls: number;
  p50Us: number;
  p99Us: number;
  meanUs: number;
  /** p50 of each fifth of the calls, in order; a wide spread means the host disturbed the run. */
  sliceP50sUs: number[];
  /** p50 of the bare call, timed interleaved with this row's calls. */
  bareP50Us: number;
  /** p50 − bare p50. */
  overheadP50Us: number;
  /** p50 / bare p50. */
  ratio: number;
  /** Budget for p50 (the guarded call itself, not the overhead); null when the issue sets none. */
  targetP50Us: number | null;
  /**
   * Budget for `ratio` instead, where the issue sets the goal relative to the bare baseline
   * (Redis and Postgres: `execute` p50 ≤ 1.5 × two bare round trips). Absent: none.
   */
  targetRatio?: number | null;
  meetsTarget: boolean | null;
}

/**
 * One figure that is not a latency series against a bare call: round trips per call, calls per
 * second, CPU per call, revoke-to-deny milliseconds. Printed as a second table after the rows.
 */
export interface MetricRow {
  store: string;
  metric: string;
  value: number;
  /** `round trips`, `calls/s`, `µs`, `ms`, `×`, `%`…: also decides how the value is printed. */
  unit: string;
  /** The goal as the issue states it (`≤ 2`, `≤ 1.5×`, `< 50 ms`); null when it sets none. */
  target: string | null;
  meetsTarget: boolean | null;
  /** How the figure was obtained, in a few words. */
  note?: string;
}

/** A sanity count: a bench that measured the wrong thing (denials, say) must say so. */
export interface Check {
  name: string;
  expected: number;
  actual: number;
  ok: boolean;
  /** What came instead, when not ok (e.g. `denied/cap_exceeded × 3`). */
  detail?: string;
}

export interface BenchResult {
  /** File name under bench/results/ (without `.json`). */
  name: string;
  title: string;
  rows: LatencyRow[];
  /** Figures that are not latency series; omitted when a bench has none. */
  metrics?: MetricRow[];
  checks: Check[];
}

type Align = 'left' | 'right';
const COLUMNS: { label: string; align: Align; cell: (row: LatencyRow) => string }[] = [
  { label: 'store', align: 'left', cell: (r) => r.store },
  { label: 'path', align: 'left', cell: (r) => r.path },
  { label: 'calls', align: 'right', cell: (r) => String(r.calls) },
  { label: 'p50 µs', align: 'right', cell: (r) => us(r.p50Us) },
  { label: 'p99 µs', align: 'right', cell: (r) => us(r.p99Us) },
  { label: 'mean µs', align: 'right', cell: (r) => us(r.meanUs) },
  { label: 'p50 by fifth min–max', align: 'right', cell: (r) => spread(r.sliceP50sUs) },
  { label: 'bare p50 µs', align: 'right', cell: (r) => us(r.bareP50Us) },
  { label: 'overhead p50 µs', align: 'right', cell: (r) => us(r.overheadP50Us) },
  { label: 'ratio', align: 'right', cell: (r) => `${r.ratio.toFixed(1)}×` },
  { label: 'target p50', align: 'right', cell: targetCell },
  {
    label: 'meets',
    align: 'left',
    cell: (r) => (r.meetsTarget === null ? '—' : r.meetsTarget ? 'yes' : 'NO'),
  },
];

function targetCell(r: LatencyRow): string {
  if (r.targetP50Us !== null) return `≤ ${r.targetP50Us}`;
  return r.targetRatio === null || r.targetRatio === undefined ? '—' : `≤ ${r.targetRatio}×`;
}

const METRIC_COLUMNS: { label: string; align: Align; cell: (row: MetricRow) => string }[] = [
  { label: 'store', align: 'left', cell: (m) => m.store },
  { label: 'metric', align: 'left', cell: (m) => m.metric },
  { label: 'value', align: 'right', cell: (m) => metricValue(m) },
  { label: 'target', align: 'right', cell: (m) => m.target ?? '—' },
  {
    label: 'meets',
    align: 'left',
    cell: (m) => (m.meetsTarget === null ? '—' : m.meetsTarget ? 'yes' : 'NO'),
  },
  { label: 'how', align: 'left', cell: (m) => m.note ?? '' },
];

function metricValue(m: MetricRow): string {
  switch (m.unit) {
    case '×':
      return `${m.value.toFixed(2)}×`;
    case 'calls/s':
      return `${Math.round(m.value)} calls/s`;
    case 'round trips':
    case 'commands':
    case 'statements':
      return `${m.value.toFixed(2)} ${m.unit}`;
    case 'µs':
      return `${m.value.toFixed(1)} µs`;
    case 'ms':
      return `${m.value.toFixed(2)} ms`;
    case 'MB':
      return `${m.value.toFixed(0)} MB`;
    default:
      return `${m.value} ${m.unit}`;
  }
}

function us(value: number): string {
  return value.toFixed(2);
}

function spread(values: number[]): string {
  return values.length === 0 ? '—' : `${us(Math.min(...values))}–${us(Math.max(...values))}`;
}

/** A left/right aligned text table: header, rule, one line per row. */
function printTable<T>(
  columns: { label: string; align: Align; cell: (row: T) => string }[],
  rows: T[],
): void {
  const cells = rows.map((row) => columns.map((c) => c.cell(row)));
  const widths = columns.map((c, i) =>
    Math.max(c.label.length, ...cells.map((line) => line[i]?.length ?? 0)),
  );
  const line = (values: string[]) =>
    values
      .map((v, i) => {
        const width = widths[i] ?? 0;
        return columns[i]?.align === 'right' ? v.padStart(width) : v.padEnd(width);
      })
      .join('  ')
      .trimEnd();

  console.log(line(columns.map((c) => c.label)));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const values of cells) console.log(line(values));
  console.log('');
}

export function printReport(result: BenchResult): void {
  console.log(`\n${result.title}\n`);
  if (result.rows.length > 0) printTable(COLUMNS, result.rows);
  if (result.metrics && result.metrics.length > 0) printTable(METRIC_COLUMNS, result.metrics);
  for (const check of result.checks) {
    const detail = check.detail ? ` (${check.detail})` : '';
    console.log(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.actual}/${check.expected}${detail}`);
  }
}

/** Write `bench/results/<name>.json` with the machine it ran on; returns the file's path. */
export function writeResults(result: BenchResult): string {
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${result.name}.json`;
  const body = {
    name: result.name,
    title: result.title,
    machine: machineInfo(),
    rows: result.rows.map(roundRow),
    ...(result.metrics && { metrics: result.metrics.map(roundMetric) }),
    checks: result.checks,
  };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${os.release()} ${process.arch}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAvg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    commit: gitCommit(),
  };
}

/** The commit measured, so results can be compared over time; null outside a git checkout. */
function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** Nanosecond precision is all the timer gives; more digits are noise in a diff. */
function roundRow(row: LatencyRow): LatencyRow {
  const r = (n: number) => Math.round(n * 1000) / 1000;
  return {
    ...row,
    p50Us: r(row.p50Us),
    p99Us: r(row.p99Us),
    meanUs: r(row.meanUs),
    sliceP50sUs: row.sliceP50sUs.map(r),
    bareP50Us: r(row.bareP50Us),
    overheadP50Us: r(row.overheadP50Us),
    ratio: Math.round(row.ratio * 10) / 10,
  };
}

function roundMetric(metric: MetricRow): MetricRow {
  return { ...metric, value: Math.round(metric.value * 1000) / 1000 };
}
