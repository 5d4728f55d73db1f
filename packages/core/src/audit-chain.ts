import { createHmac, timingSafeEqual } from 'node:crypto';
import { jsonQuote, sha256Hex } from './canonical-json.ts';
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

/**
 * `JSON.stringify({ ...entry, seq }, HASHED_FIELDS)`, the text a row's hash covers, built field
 * by field: the fields are strings, numbers, booleans or null, which stringify alone the same
 * way, and a replacer list costs ~10× more. Anything else (a row edited into an object) takes
 * the replacer's path, so the text is the same for any input.
 */
export function hashedText(entry: AuditEntry, seq: number): string {
  let text = `{"seq":${JSON.stringify(seq) ?? 'null'}`;
  for (const field of AUDIT_HASHED_FIELDS) {
    // Own fields only, as the spread in `{ ...entry, seq }` copies.
    const value: unknown = Object.hasOwn(entry, field) ? entry[field] : undefined;
    const json =
      typeof value === 'string'
        ? jsonQuote(value)
        : typeof value === 'object' && value !== null
          ? JSON.stringify(value, HASHED_FIELDS)
          : JSON.stringify(value);
    if (json !== undefined) text += `,"${field}":${json}`;
  }
  return `${text}}`;
}

/** The hash the chain starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** Link an entry to the row before it. Any edit of a row changes its hash and breaks the next link. */
export function chainAudit(entry: AuditEntry, previous: { seq: number; hash: string } | undefined): AuditRow {
  const seq = (previous?.seq ?? 0) + 1;
  const prevHash = previous?.hash ?? GENESIS_HASH;
  const hash = sha256Hex(`${prevHash}\n${hashedText(entry, seq)}`);
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
 * too; with a key and no anchor at all, the anchor was removed. Read the head before the rows:
 * rows appended in between chain on from the head's row and pass.
 */
export function verifyAuditChain(
  rows: Iterable<AuditRow>,
  head: AuditHead | undefined,
  options: { anchorKey?: string } = {},
): AuditVerdict {
  const list = [...rows];
  // The rows passed checkRows, so row n sits at index n - 1.
  return checkRows(list) ?? checkHead(list.length, (seq) => list[seq - 1]?.hash, head, options);
}

/** Reads up to `limit` rows in seq order with seq above `afterSeq` (a store's `readAudit`). */
export type AuditPageReader = (afterSeq: number, limit: number) => Promise<AuditRow[]>;

export interface VerifyAuditLogOptions {
  anchorKey?: string;
  /** Rows read per page. Default: 1,000. */
  pageSize?: number;
  /** Called after each page with the rows checked so far. */
  onProgress?: (rowsChecked: number) => void;
}

/**
 * `verifyAuditChain` over a log read page by page, in constant memory: what verifying a log of
 * millions of rows takes. Pages come in seq order, so a row out of place shows as one missing.
 */
export async function verifyAuditLog(
  read: AuditPageReader,
  head: AuditHead | undefined,
  options: VerifyAuditLogOptions = {},
): Promise<AuditVerdict> {
  const pageSize = options.pageSize ?? 1000;
  const check = new ChainCheck();
  const wanted = new Set([head?.seq, head?.anchor?.seq]);
  const hashes = new Map<number, string>();
  for (;;) {
    const page = await read(check.lastSeq, pageSize);
    for (const row of page) {
      const failure = check.push(row);
      if (failure) return failure;
      if (wanted.has(row.seq)) hashes.set(row.seq, row.hash);
    }
    options.onProgress?.(check.count);
    if (page.length < pageSize) break;
  }
  return checkHead(check.count, (seq) => hashes.get(seq), head, options);
}

/** The head against the rows: `hashAt(seq)` is the hash of the row at that seq, if there is one. */
function checkHead(
  count: number,
  hashAt: (seq: number) => string | undefined,
  head: AuditHead | undefined,
  options: { anchorKey?: string },
): AuditVerdict {
  if (!head) {
    if (count === 0) return { ok: true, rows: 0 };
    return fail(count, count, 'head_missing', `the audit head is missing, yet rows 1 to ${count} exist`);
  }
  const atHead = hashAt(head.seq);
  if (atHead === undefined) {
    const first = count + 1;
    const which = first === head.seq ? `row ${first} is` : `rows ${first} to ${head.seq} are`;
    return fail(count, first, 'truncated', `audit ${which} missing: the head is at row ${head.seq}`);
  }
  if (atHead !== head.hash) {
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
    if (hashAt(anchor.seq) !== anchor.hash) {
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
  const check = new ChainCheck(new Set(list.map((row) => row.seq)));
  for (const row of list) {
    const failure = check.push(row);
    if (failure) return failure;
  }
  return undefined;
}

/**
 * The chain checked one row at a time. With every seq of the list known up front, a later row
 * listed first is told apart from a deleted one; read from a store in seq order, it cannot be.
 */
class ChainCheck {
  readonly #seqs: ReadonlySet<number> | undefined;
  #previous: { seq: number; hash: string } | undefined;
  count = 0;

  constructor(seqs?: ReadonlySet<number>) {
    this.#seqs = seqs;
  }

  get lastSeq(): number {
    return this.#previous?.seq ?? 0;
  }

  push(row: AuditRow): Failure | undefined {
    const count = ++this.count;
    const expectedSeq = this.lastSeq + 1;
    if (row.seq > expectedSeq) {
      // A swap puts a later row first; a deletion leaves the seq nowhere.
      if (this.#seqs?.has(expectedSeq)) {
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
    const recomputed = chainAudit(entry, this.#previous);
    if (prevHash !== recomputed.prevHash || hash !== recomputed.hash) {
      return fail(count, row.seq, 'edited', `audit row ${row.seq} was edited`);
    }
    this.#previous = { seq: row.seq, hash };
    return undefined;
  }
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
