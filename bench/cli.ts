import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { type AuditEntry, SqliteStore } from '@spendguard/core';
import { chainAudit } from '@spendguard/core/store-kit';
import type { BenchResult, Check, MetricRow } from './report.ts';

/**
 * The operator's command line, as a user runs it (the built `spendguard`, child processes):
 * - start-up: `spendguard --help` against bare `node -e ''` in the same run (goal: well under 300 ms);
 * - `audit export` and `audit verify` of a 1,000,000-row SQLite log: wall time and peak RSS
 *   (GNU time's max resident set), to show they stream in constant memory.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'packages/cli/dist/bin.js');
const SOURCE_BIN = join(ROOT, 'packages/cli/src/bin.ts');
const ROWS = Number(process.env.SPENDGUARD_BENCH_AUDIT_ROWS ?? 1_000_000);

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

/** A log of `rows` chained rows written straight into a SQLite store's file, with its head. */
function writeLog(file: string, rows: number): void {
  new SqliteStore({ file }).close();
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;');
  const insert = db.prepare('INSERT INTO sg_audit (seq, hash, data) VALUES (?, ?, ?)');
  const base: AuditEntry = {
    time: Date.UTC(2026, 10, 1),
    keyId: 'key_0123456789abcdef',
    rootKeyId: 'key_0123456789abcdef',
    runId: null,
    agentId: 'billing-agent',
    toolCallId: null,
    vendor: 'stripe',
    operation: 'POST /v1/charges',
    idempotencyKey: null,
    decision: 'executed',
    code: 'executed',
    message: null,
    estimatedCostUsd: 12.5,
    actualCostUsd: 12.5,
    actualCostIsEstimate: false,
    amount: 12.5,
    currency: 'usd',
    upstreamStatus: 200,
    upstreamObjectId: null,
    latencyMs: 210,
    traceId: null,
  };
  let previous: { seq: number; hash: string } | undefined;
  db.exec('BEGIN');
  for (let i = 0; i < rows; i++) {
    const row = chainAudit(
      {
        ...base,
        time: base.time + i * 1000,
        runId: `run-${i % 500}`,
        upstreamObjectId: `ch_${i}`,
        idempotencyKey: `k${i}`,
      },
      previous,
    );
    insert.run(row.seq, row.hash, JSON.stringify(row));
    previous = { seq: row.seq, hash: row.hash };
    if (i % 100_000 === 99_999) {
      db.exec('COMMIT');
      db.exec('BEGIN');
    }
  }
  db.exec('COMMIT');
  if (previous) {
    db.prepare('INSERT INTO sg_audit_head (id, seq, hash) VALUES (1, ?, ?)').run(previous.seq, previous.hash);
  }
  db.close();
}

/** Run the CLI under GNU time: wall seconds and peak RSS in MB. */
function measured(args: string[], cwd: string): { seconds: number; peakRssMb: number; stderr: string } {
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
  return { seconds, peakRssMb: kb / 1024, stderr: result.stderr };
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
    const file = join(dir, 'audit.db');
    const policy = join(dir, 'spendguard.yaml');
    writeFileSync(policy, 'policies:\n  billing-agent:\n    stripe: { allow: [POST /v1/charges] }\n');
    const writing = performance.now();
    writeLog(file, ROWS);
    const store = `sqlite:${file}`;
    const common = ['--store', store, '--config', policy];
    const out = join(dir, 'export.jsonl');
    // The source bin runs the workspace's TypeScript (no build of core needed); the built one needs every package built.
    const bin = SOURCE_BIN;
    const exported = measured(
      ['--conditions=@spendguard/source', bin, 'audit', 'export', '--out', out, ...common],
      dir,
    );
    const lines = Number(execFileSync('wc', ['-l', out], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
    checks.push({ name: 'export wrote every row', expected: ROWS, actual: lines, ok: lines === ROWS });
    checks.push({
      name: 'export showed progress on stderr',
      expected: 1,
      actual: /export \[/.test(exported.stderr) ? 1 : 0,
      ok: /export \[/.test(exported.stderr),
    });
    const verified = measured(
      ['--conditions=@spendguard/source', bin, 'audit', 'verify', '--json', ...common],
      dir,
    );
    checks.push({
      name: 'verify showed progress on stderr',
      expected: 1,
      actual: /verify \[/.test(verified.stderr) ? 1 : 0,
      ok: /verify \[/.test(verified.stderr),
    });
    const note = `${(ROWS / 1e6).toFixed(1)} M rows (${(statSync(file).size / 1e6).toFixed(0)} MB SQLite, written in ${((performance.now() - writing) / 1000).toFixed(0)} s)`;
    metrics.push(
      {
        store: 'sqlite',
        metric: 'audit export: wall',
        value: exported.seconds * 1000,
        unit: 'ms',
        target: null,
        meetsTarget: null,
        note,
      },
      {
        store: 'sqlite',
        metric: 'audit export: peak RSS (MB)',
        value: exported.peakRssMb,
        unit: 'MB',
        target: 'constant',
        meetsTarget: exported.peakRssMb < 300,
        note: `${(statSync(out).size / 1e6).toFixed(0)} MB of JSON lines out`,
      },
      {
        store: 'sqlite',
        metric: 'audit verify: wall',
        value: verified.seconds * 1000,
        unit: 'ms',
        target: null,
        meetsTarget: null,
      },
      {
        store: 'sqlite',
        metric: 'audit verify: peak RSS (MB)',
        value: verified.peakRssMb,
        unit: 'MB',
        target: 'constant',
        meetsTarget: verified.peakRssMb < 300,
      },
    );
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
