import type { AuditEntry } from '@spendguard/core';
import { AUDIT_HASHED_FIELDS } from '@spendguard/core/store-kit';

/** The audit fields after `seq`, in the order core's `chainAudit` serializes them. */
export const AUDIT_FIELDS = AUDIT_HASHED_FIELDS;

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
 * entry carried. Fields are strings, numbers, booleans or null, for which a plain stringify is
 * the same text (a replacer list costs ~10× more); anything else takes the replacer's path.
 */
export function auditFragments(entry: AuditEntry): string[] {
  const fragments: string[] = [];
  for (const field of AUDIT_FIELDS) {
    const value: unknown = entry[field];
    fragments.push(
      value === undefined
        ? ''
        : typeof value === 'object' && value !== null
          ? (JSON.stringify(value, REPLACER) ?? '')
          : (JSON.stringify(value) ?? ''),
    );
  }
  return fragments;
}
