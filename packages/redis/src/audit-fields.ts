import type { AuditEntry } from '@spendguard/core';
import { AUDIT_HASHED_FIELDS } from '@spendguard/core/store-kit';

/** The audit fields after `seq`, in the order core's `chainAudit` serializes them. */
export const AUDIT_FIELDS = AUDIT_HASHED_FIELDS;

/** What `JSON.stringify(row, list)` applies to nested values too, so nested values match. */
const REPLACER = ['seq', ...AUDIT_FIELDS];

/**
 * The fields a script may set itself (its own decision, a fenced finish's message), in row
 * order. They are next to each other in the row, so the fields before and after them travel as
 * two ready-made pieces of row text.
 */
export const SCRIPT_FIELDS = ['decision', 'code', 'message', 'estimatedCostUsd', 'actualCostUsd'] as const;

const FIRST = AUDIT_FIELDS.indexOf(SCRIPT_FIELDS[0]);
const END = FIRST + SCRIPT_FIELDS.length;
if (SCRIPT_FIELDS.some((field, i) => AUDIT_FIELDS[FIRST + i] !== field)) {
  throw new Error('spendguard: the audit fields the Redis scripts set are no longer next to each other');
}

/** How many arguments `auditArgs` makes: the text before, the script's fields, the text after. */
export const AUDIT_ARGS = SCRIPT_FIELDS.length + 2;

/** `,"field":` of each field, by position in AUDIT_FIELDS. */
const PREFIXES = AUDIT_FIELDS.map((field) => `,"${field}":`);

/**
 * A field's JSON text exactly as `JSON.stringify(row, HASHED_FIELDS)` writes it inside the row,
 * or undefined where the row leaves the field out. JavaScript formats every number, so the
 * script never has to print one the entry carried. Fields are strings, numbers, booleans or
 * null, for which a plain stringify is the same text (a replacer list costs ~10× more), and for
 * a finite number or a boolean so is String() (cheaper); anything else takes the replacer's path.
 */
function fieldJson(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      return value === null ? 'null' : JSON.stringify(value, REPLACER);
    default:
      return JSON.stringify(value);
  }
}

/** `,"field":json` for each field of `AUDIT_FIELDS[from, to)` the row has. */
function rowText(entry: AuditEntry, from: number, to: number): string {
  let text = '';
  for (let i = from; i < to; i++) {
    const value: unknown = entry[AUDIT_FIELDS[i] as keyof AuditEntry];
    const json = value === undefined ? undefined : fieldJson(value);
    if (json !== undefined) text += `${PREFIXES[i]}${json}`;
  }
  return text;
}

/**
 * The entry as the scripts append it (the last AUDIT_ARGS arguments): the row text of the fields
 * before SCRIPT_FIELDS, each of those fields' JSON text ('' where the row leaves it out: JSON
 * text is never empty), and the row text of the fields after. The script puts
 * `{"seq":<seq>` in front and `}` behind, so the row is the one core's `chainAudit` hashes.
 */
export function auditArgs(entry: AuditEntry): string[] {
  const args = [rowText(entry, 0, FIRST)];
  for (const field of SCRIPT_FIELDS) {
    const value: unknown = entry[field];
    args.push(value === undefined ? '' : (fieldJson(value) ?? ''));
  }
  args.push(rowText(entry, END, AUDIT_FIELDS.length));
  return args;
}
