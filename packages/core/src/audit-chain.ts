import { createHmac, timingSafeEqual } from 'node:crypto';
import { sha256Hex } from './canonical-json.ts';
import type { AuditAnchor, AuditEntry, AuditHead, AuditRow } from './store.ts';

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

/** What `verifyAuditChain` found wrong, at one seq. */
export type AuditProblem =
  /** The row's content or links do not hash to what is stored. */
  | 'edited'
  /** A row before the newest is gone: the next row's seq skips it. */
  | 'missing'
  /** Rows are out of sequence order, or a seq appears twice. */
  | 'reordered'
  /** The newest rows are gone (or all of them): the head is beyond the last row. */
  | 'truncated'
  /** Rows exist but the head that every append moves does not. */
  | 'head_missing'
  /** The anchor's HMAC is wrong, or the row it names no longer has its hash: the chain was rewritten. */
  | 'anchor_mismatch';

export type AuditVerdict =
  | { ok: true; rows: number }
  | { ok: false; rows: number; seq: number; problem: AuditProblem; message: string };

type Failure = Extract<AuditVerdict, { ok: false }>;

/** An anchor of a head: HMAC-SHA256 (hex) of `${seq}:${hash}` under a key the store never holds. */
export function auditAnchor(key: string, seq: number, hash: string): AuditAnchor {
  return { seq, hash, hmac: createHmac('sha256', key).update(`${seq}:${hash}`).digest('hex') };
}

/** Recompute the chain over rows in sequence order; name the first edited, missing or misplaced row. */
export function verifyAuditRows(rows: Iterable<AuditRow>): AuditVerdict {
  const list = [...rows];
  return checkRows(list) ?? { ok: true, rows: list.length };
}

/**
 * `verifyAuditRows`, and the rows against the head every append moves: the row at the head's
 * seq must exist with the head's hash, so deleting the newest rows (or all of them) is caught.
 * With `anchorKey`, the head's anchor must carry a valid HMAC and the row it names must still
 * have its hash, so a chain rewritten consistently from its first row, head included, is caught
 * too; with a key and no anchor at all, the anchor was removed. Read the head before the rows: rows appended in between chain on from the head's row and
 * pass.
 */
export function verifyAuditChain(
  rows: Iterable<AuditRow>,
  head: AuditHead | undefined,
  options: { anchorKey?: string } = {},
): AuditVerdict {
  const list = [...rows];
  const count = list.length;
  const broken = checkRows(list);
  if (broken) return broken;
  if (!head) {
    if (count === 0) return { ok: true, rows: 0 };
    return fail(count, count, 'head_missing', `the audit head is missing, yet rows 1 to ${count} exist`);
  }
  // The rows passed checkRows, so row n sits at index n - 1.
  const atHead = list[head.seq - 1];
  if (!atHead) {
    const first = count + 1;
    const which = first === head.seq ? `row ${first} is` : `rows ${first} to ${head.seq} are`;
    return fail(count, first, 'truncated', `audit ${which} missing: the head is at row ${head.seq}`);
  }
  if (atHead.hash !== head.hash) {
    return fail(count, head.seq, 'edited', `audit row ${head.seq} was edited: its hash is not the head's`);
  }
  const anchor = head.anchor;
  if (options.anchorKey !== undefined && !anchor) {
    // The guard anchors after every call once it has a key: a log without one was stripped of it.
    return fail(
      count,
      head.seq,
      'anchor_mismatch',
      'the audit head carries no anchor, yet an audit key is set',
    );
  }
  if (options.anchorKey !== undefined && anchor) {
    const expected = auditAnchor(options.anchorKey, anchor.seq, anchor.hash).hmac;
    if (!sameHex(anchor.hmac, expected)) {
      return fail(
        count,
        anchor.seq,
        'anchor_mismatch',
        `the anchor of audit row ${anchor.seq} is not signed by the audit key`,
      );
    }
    if (list[anchor.seq - 1]?.hash !== anchor.hash) {
      return fail(
        count,
        anchor.seq,
        'anchor_mismatch',
        `audit row ${anchor.seq} does not match its anchor: the chain was rewritten`,
      );
    }
  }
  return { ok: true, rows: count };
}

/** The first row whose seq or hash is not what an untouched chain would have there. */
function checkRows(list: readonly AuditRow[]): Failure | undefined {
  const seqs = new Set(list.map((row) => row.seq));
  let previous: { seq: number; hash: string } | undefined;
  for (const [index, row] of list.entries()) {
    const count = index + 1;
    const expectedSeq = (previous?.seq ?? 0) + 1;
    if (row.seq > expectedSeq) {
      // A swap puts a later row first; a deletion leaves the seq nowhere.
      if (seqs.has(expectedSeq)) {
        return fail(
          count,
          expectedSeq,
          'reordered',
          `audit row ${expectedSeq} is out of order (row ${row.seq} comes before it)`,
        );
      }
      return fail(
        count,
        expectedSeq,
        'missing',
        `audit row ${expectedSeq} is missing (next row found is ${row.seq})`,
      );
    }
    if (row.seq < expectedSeq) {
      return fail(count, row.seq, 'reordered', `audit row ${row.seq} appears twice or out of order`);
    }
    const { seq: _seq, prevHash, hash, ...entry } = row;
    const recomputed = chainAudit(entry, previous);
    if (prevHash !== recomputed.prevHash || hash !== recomputed.hash) {
      return fail(count, row.seq, 'edited', `audit row ${row.seq} was edited`);
    }
    previous = { seq: row.seq, hash };
  }
  return undefined;
}

function fail(rows: number, seq: number, problem: AuditProblem, message: string): Failure {
  return { ok: false, rows, seq, problem, message };
}

/** Constant-time comparison of two hex strings. */
function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
