import type { AuditEntry } from '@spendguard/core';

/**
 * The audit fields after `seq`, in the order core's `chainAudit` serializes them
 * (`JSON.stringify(row, HASHED_FIELDS)`). Core keeps that list private, so it is repeated here;
 * the Record type makes a missing or extra field a compile error, and a test proves the order by
 * checking rows written by the Lua scripts with core's `verifyAuditRows`.
 */
const FIELDS: Record<keyof AuditEntry, true> = {
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

export const AUDIT_FIELDS = Object.keys(FIELDS) as (keyof AuditEntry)[];

/** What `JSON.stringify(row, list)` applies to nested values too, so nested values match. */
const REPLACER = ['seq', ...AUDIT_FIELDS];

/** 1-based position of a field in the fragment list (the Lua scripts override some of them). */
export function fieldIndex(field: keyof AuditEntry): number {
  return AUDIT_FIELDS.indexOf(field) + 1;
}

/**
 * Each field's JSON text exactly as `JSON.stringify(row, HASHED_FIELDS)` writes it inside the
 * row, or '' where the row would leave the field out (undefined). JSON text is never empty, so
 * '' is unambiguous. JavaScript formats every number, so the script never has to print one the
 * entry carried.
 */
export function auditFragments(entry: AuditEntry): string[] {
  const fragments: string[] = [];
  for (const field of AUDIT_FIELDS) {
    const value: unknown = entry[field];
    fragments.push(value === undefined ? '' : (JSON.stringify(value, REPLACER) ?? ''));
  }
  return fragments;
}
