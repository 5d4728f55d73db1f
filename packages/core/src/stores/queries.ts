import type { AuditQuery, AuditRow, Decision, KeyQuery, KeyRecord, KeyState } from '../store.ts';

/**
 * The meaning of `listKeys` and `readAudit` queries, written once. The memory store filters with
 * these; Redis filters its chunked reads with them; SQLite and Postgres say the same in SQL, and
 * the conformance suite holds them all to it.
 */

/** A key's own state at `now` (see `KeyState`). */
export function keyState(key: KeyRecord, now: number): KeyState {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  return 'active';
}

/** Throws a TypeError for a query a store cannot answer: a state with no time to judge it at. */
export function checkKeyQuery(query: KeyQuery): void {
  if (query.state !== undefined && query.now === undefined) {
    throw new TypeError(`listKeys: state '${query.state}' needs \`now\` (stores keep no clock)`);
  }
}

/** Whether a key passes the query's filters and lies after its `afterId` (`limit` aside). */
export function matchesKeyQuery(key: KeyRecord, query: KeyQuery): boolean {
  return (
    (query.afterId === undefined || key.id > query.afterId) &&
    (query.rootId === undefined || key.rootId === query.rootId) &&
    (query.parentId === undefined || key.parentId === query.parentId) &&
    (query.runId === undefined || key.runId === query.runId) &&
    (query.state === undefined || keyState(key, query.now as number) === query.state)
  );
}

/** The query's decisions as a list, or undefined when it does not filter by decision. */
export function decisionsOf(query: AuditQuery): readonly Decision[] | undefined {
  const { decision } = query;
  return decision === undefined ? undefined : typeof decision === 'string' ? [decision] : decision;
}

/**
 * Whether a row's trace id belongs to the queried trace: the same string, or it followed by `;`
 * and the parts an adapter added (see AuditQuery.traceId). Plain string comparison, no pattern.
 */
export function inTrace(traceId: string | null | undefined, query: string): boolean {
  return typeof traceId === 'string' && (traceId === query || traceId.startsWith(`${query};`));
}

/** Whether a row passes the query's filters and seq bounds (`limit` aside). */
export function matchesAuditQuery(row: AuditRow, query: AuditQuery): boolean {
  const decisions = decisionsOf(query);
  return (
    (query.afterSeq === undefined || row.seq > query.afterSeq) &&
    (query.beforeSeq === undefined || row.seq < query.beforeSeq) &&
    (query.keyId === undefined || row.keyId === query.keyId) &&
    (query.rootKeyId === undefined || row.rootKeyId === query.rootKeyId) &&
    (query.runId === undefined || row.runId === query.runId) &&
    (decisions === undefined || decisions.includes(row.decision)) &&
    (query.code === undefined || row.code === query.code) &&
    (query.vendor === undefined || row.vendor === query.vendor) &&
    (query.traceId === undefined || inTrace(row.traceId, query.traceId)) &&
    (query.fromTime === undefined || row.time >= query.fromTime) &&
    (query.toTime === undefined || row.time < query.toTime)
  );
}

/**
 * The page of `rows` (matching, in seq order) the query's `limit` keeps: the first rows, or with
 * `beforeSeq` the last ones (a backwards page).
 */
export function auditPage(rows: AuditRow[], query: AuditQuery): AuditRow[] {
  const limit = query.limit;
  if (limit === undefined || rows.length <= limit) return rows;
  if (limit <= 0) return [];
  return query.beforeSeq === undefined ? rows.slice(0, limit) : rows.slice(rows.length - limit);
}
