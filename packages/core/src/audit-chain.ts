import { sha256Hex } from './canonical-json.ts';
import type { AuditEntry, AuditRow } from './store.ts';

/**
 * The fields a row's hash covers, in a fixed order: serializing with this list is canonical
 * without sorting keys on every append (the hot path). The Record type makes a new audit field
 * a compile error here until it is covered.
 */
const HASHED: Record<Exclude<keyof AuditRow, 'prevHash' | 'hash'>, true> = {
  seq: true,
  time: true,
  keyId: true,
  rootKeyId: true,
  runId: true,
  agentId: true,
  toolCallId: true,
  vendor: true,
  operation: true,
  idempotencyKey: true,
  decision: true,
  code: true,
  message: true,
  estimatedCostUsd: true,
  actualCostUsd: true,
  actualCostIsEstimate: true,
  amount: true,
  currency: true,
  upstreamStatus: true,
  upstreamObjectId: true,
  latencyMs: true,
  traceId: true,
};
const HASHED_FIELDS = Object.keys(HASHED);

/**
 * The entry fields a row's hash covers, in the order they are serialized after `seq`. Backends
 * that build rows elsewhere (the Redis scripts) follow this order.
 */
export const AUDIT_HASHED_FIELDS = HASHED_FIELDS.slice(1) as readonly (keyof AuditEntry)[];

/** The hash the chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** Link an entry to the row before it. Any edit of a row changes its hash and breaks the next link. */
export function chainAudit(entry: AuditEntry, previous: { seq: number; hash: string } | undefined): AuditRow {
  const seq = (previous?.seq ?? 0) + 1;
  const prevHash = previous?.hash ?? GENESIS_HASH;
  const hash = sha256Hex(`${prevHash}\n${JSON.stringify({ ...entry, seq }, HASHED_FIELDS)}`);
  return { ...entry, seq, prevHash, hash };
}

export type AuditVerdict =
  | { ok: true; rows: number }
  | { ok: false; rows: number; seq: number; problem: 'edited' | 'missing' | 'reordered'; message: string };

/** Recompute the chain over rows in sequence order; name the first edited or missing row. */
export function verifyAuditRows(rows: Iterable<AuditRow>): AuditVerdict {
  let previous: { seq: number; hash: string } | undefined;
  let count = 0;
  for (const row of rows) {
    count++;
    const expectedSeq = (previous?.seq ?? 0) + 1;
    if (row.seq > expectedSeq) {
      return {
        ok: false,
        rows: count,
        seq: expectedSeq,
        problem: 'missing',
        message: `audit row ${expectedSeq} is missing (next row found is ${row.seq})`,
      };
    }
    if (row.seq < expectedSeq) {
      return {
        ok: false,
        rows: count,
        seq: row.seq,
        problem: 'reordered',
        message: `audit row ${row.seq} appears twice or out of order`,
      };
    }
    const { seq: _seq, prevHash, hash, ...entry } = row;
    const recomputed = chainAudit(entry, previous);
    if (prevHash !== recomputed.prevHash || hash !== recomputed.hash) {
      return {
        ok: false,
        rows: count,
        seq: row.seq,
        problem: 'edited',
        message: `audit row ${row.seq} was edited`,
      };
    }
    previous = { seq: row.seq, hash };
  }
  return { ok: true, rows: count };
}
