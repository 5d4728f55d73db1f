import { type AuditQuery, decisionsOf, type KeyQuery, type PruneOptions } from '@spendguard/core/store-kit';
import { jsonNumber, jsonString, type Tables } from './schema.ts';

/** A statement and its parameters; named statements are parsed once per connection. */
export interface Statement {
  text: string;
  values: unknown[];
  name?: string;
}

/**
 * The statements whose text depends on the query: one per combination of filters, each shaped
 * to use the indexes of the newest schema version (see schema.ts). Unnamed, so each is planned for its
 * values.
 */

/** Numbered parameters: `p(value)` adds one and returns its `$n`. */
function parameters() {
  const values: unknown[] = [];
  const p = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  return { values, p };
}

function whereClause(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.join(' AND ')}`;
}

/** A backwards page (beforeSeq and a limit) is read newest first; the caller turns it. */
export function isBackwards(query: AuditQuery): boolean {
  return query.beforeSeq !== undefined && query.limit !== undefined;
}

const AUDIT_COLUMNS = [
  ['keyId', 'key_id'],
  ['rootKeyId', 'root_key_id'],
  ['runId', 'run_id'],
] as const;

export function auditStatement(t: Tables, query: AuditQuery): Statement {
  const { values, p } = parameters();
  const where: string[] = [];
  if (query.afterSeq !== undefined) where.push(`seq > ${p(query.afterSeq)}`);
  if (query.beforeSeq !== undefined) where.push(`seq < ${p(query.beforeSeq)}`);
  // The indexed filters are columns (schema version 5: see auditColumns); code, vendor and
  // traceId filter the rows they find.
  for (const [field, column] of AUDIT_COLUMNS) {
    const value = query[field];
    if (value !== undefined) where.push(`${column} = ${p(JSON.stringify(value))}`);
  }
  for (const field of ['code', 'vendor'] as const) {
    const value = query[field];
    if (value !== undefined) where.push(`${jsonString(field)} = ${p(JSON.stringify(value))}`);
  }
  if (query.traceId !== undefined) {
    // The trace id (AuditQuery.traceId) as the row holds it, JSON text: the whole string, or its
    // text without the closing quote and then ';' as the start of the row's (JSON escapes are
    // per character, so a JSON text begins with `"id;` exactly when its string begins with
    // `id;`). starts_with, not LIKE: the id is never read as a pattern.
    const json = JSON.stringify(query.traceId);
    const traceId = jsonString('traceId');
    where.push(`(${traceId} = ${p(json)} OR starts_with(${traceId}, ${p(`${json.slice(0, -1)};`)}))`);
  }
  const decisions = decisionsOf(query);
  if (decisions !== undefined) {
    where.push(`decision = ANY(${p(decisions.map((d) => JSON.stringify(d)))}::text[])`);
  }
  if (query.fromTime !== undefined) where.push(`time_ms >= ${p(query.fromTime)}`);
  if (query.toTime !== undefined) where.push(`time_ms < ${p(query.toTime)}`);
  let text = `SELECT data FROM ${t.audit}${whereClause(where)} ORDER BY seq${isBackwards(query) ? ' DESC' : ''}`;
  if (query.limit !== undefined) text += ` LIMIT ${p(query.limit)}`;
  return { text, values };
}

export function keysStatement(t: Tables, query: KeyQuery): Statement {
  const { values, p } = parameters();
  const where: string[] = [];
  if (query.afterId !== undefined) where.push(`id > ${p(query.afterId)}`);
  if (query.rootId !== undefined) where.push(`root_id = ${p(query.rootId)}`);
  if (query.parentId === null) where.push(`${jsonString('parentId')} IS NULL`);
  else if (query.parentId !== undefined) {
    where.push(`${jsonString('parentId')} = ${p(JSON.stringify(query.parentId))}`);
  }
  if (query.runId !== undefined) where.push(`${jsonString('runId')} = ${p(JSON.stringify(query.runId))}`);
  const expiresAt = jsonNumber('expiresAt');
  if (query.state === 'revoked') where.push('revoked_at IS NOT NULL');
  else if (query.state === 'expired') where.push(`revoked_at IS NULL AND ${expiresAt} <= ${p(query.now)}`);
  else if (query.state === 'active') {
    where.push(`revoked_at IS NULL AND (${expiresAt} IS NULL OR ${expiresAt} > ${p(query.now)})`);
  }
  let text = `SELECT id, data, revoked_at FROM ${t.keys}${whereClause(where)} ORDER BY id`;
  if (query.limit !== undefined) text += ` LIMIT ${p(query.limit)}`;
  return { text, values };
}

/** Counters and alert marks of windows that ended before $1. */
function endedWindows(t: Tables): string {
  return (
    `c AS (DELETE FROM ${t.counters} WHERE expires_at < $1 RETURNING 1), ` +
    `m AS (DELETE FROM ${t.marks} WHERE expires_at < $1 RETURNING 1)`
  );
}

/** `prune(now)`: counters and marks only. */
export function endedWindowsStatement(t: Tables, now: number): Statement {
  return {
    text: `WITH ${endedWindows(t)} SELECT (SELECT count(*) FROM c)::int AS counters, (SELECT count(*) FROM m)::int AS marks`,
    values: [now],
  };
}

/** `prune(options)`: core's retention rules (retention.ts) in SQL, and ended windows. */
export function pruneStatement(t: Tables, options: PruneOptions): Statement {
  const keyExpiresAt = jsonNumber('expiresAt', 'k.data');
  const state = jsonString('state');
  const decidedAt = jsonNumber('decidedAt');
  const cutoff =
    options.approvalsOlderThanMs === undefined ? null : options.now - options.approvalsOlderThanMs;
  return {
    text:
      `WITH ${endedWindows(t)}, ` +
      // A token's key is missing, revoked or expired.
      `tk AS (DELETE FROM ${t.tokens} tk WHERE NOT EXISTS (SELECT 1 FROM ${t.keys} k WHERE k.id = tk.key_id ` +
      `AND k.revoked_at IS NULL AND (${keyExpiresAt} IS NULL OR ${keyExpiresAt} > $1)) RETURNING 1), ` +
      `cp AS (DELETE FROM ${t.checkpoints} WHERE prunable_at <= $1 AND state <> 'in_progress' RETURNING fencing_token), ` +
      // greatest() ignores the NULL of no checkpoint pruned.
      `fl AS (UPDATE ${t.checkpointFloor} SET value = greatest(value, (SELECT max(fencing_token) + 1 FROM cp)) WHERE id), ` +
      // Decided by the cutoff (none without one), unless approved, unused and unexpired.
      `ap AS (DELETE FROM ${t.approvals} WHERE ${state} <> '"pending"' AND ${decidedAt} <= $2::numeric ` +
      `AND NOT (${state} = '"approved"' AND ${jsonNumber('usedAt')} IS NULL AND ${decidedAt} + ${jsonNumber('ttlMs')} > $1) ` +
      'RETURNING 1) ' +
      'SELECT (SELECT count(*) FROM tk)::int AS tokens, (SELECT count(*) FROM cp)::int AS checkpoints, ' +
      '(SELECT count(*) FROM ap)::int AS approvals, (SELECT count(*) FROM c)::int AS counters, ' +
      '(SELECT count(*) FROM m)::int AS marks',
    values: [options.now, cutoff],
  };
}
