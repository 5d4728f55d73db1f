/**
 * Test support: a SQLite store's audit log of many chained rows, written straight into the file
 * (through the guard it would take minutes), so export and verify have real work to show progress on.
 */
import { DatabaseSync } from 'node:sqlite';
import { type AuditEntry, SqliteStore } from '@spendguard/core';
import { chainAudit } from '@spendguard/core/store-kit';

const ENTRY: AuditEntry = {
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

/**
 * Write `rows` chained executed-charge rows (runs `run-0` … `run-<runs − 1>` in turn) and the
 * log's head. Unsynced, committed every 100,000 rows: a fixture, written fast.
 */
export function writeAuditLog(file: string, rows: number, { runs = 10 }: { runs?: number } = {}): void {
  new SqliteStore({ file }).close();
  const db = new DatabaseSync(file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;');
  const insert = db.prepare('INSERT INTO sg_audit (seq, hash, data) VALUES (?, ?, ?)');
  let previous: { seq: number; hash: string } | undefined;
  db.exec('BEGIN');
  for (let i = 0; i < rows; i++) {
    const row = chainAudit(
      {
        ...ENTRY,
        time: ENTRY.time + i * 1000,
        runId: `run-${i % runs}`,
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
  if (previous)
    db.prepare('INSERT INTO sg_audit_head (id, seq, hash) VALUES (1, ?, ?)').run(previous.seq, previous.hash);
  db.exec('COMMIT');
  db.close();
}
