import { microsToUsd } from '@spendguard/core';
import {
  type AlertEvent,
  AUDIT_HASHED_FIELDS,
  type AuditEntry,
  type AuditRow,
  type BeginPlan,
  type BeginResult,
  type CapWindow,
  type CheckpointRecord,
  type FinishInput,
  startedCheckpoint,
} from '@spendguard/core/store-kit';

/**
 * The arguments of the step functions (functions.ts), built from a plan, and their answers turned
 * back into core's results. What depends only on the plan is computed here, in JavaScript (the
 * new checkpoint's JSON, every number printed, the words of the messages the plan decides); the
 * functions add what they read under their locks.
 */

// The five audit fields begin may override, in the order chainAudit serializes them.
const MIDDLE = ['decision', 'code', 'message', 'estimatedCostUsd', 'actualCostUsd'] as const;
const FIRST_MIDDLE = AUDIT_HASHED_FIELDS.indexOf('decision');
if (MIDDLE.some((field, i) => AUDIT_HASHED_FIELDS[FIRST_MIDDLE + i] !== field)) {
  // audit_body (functions.ts) writes these five together, after the fields before them.
  throw new Error('@spendguard/postgres: core changed the order of the audit fields; update audit_body');
}
/** What `JSON.stringify(row, HASHED_FIELDS)` applies to nested values too. */
const REPLACER = ['seq', ...AUDIT_HASHED_FIELDS];

/** A field's JSON as the row's serialization writes it; undefined when it leaves the field out. */
function fieldJson(value: unknown): string | undefined {
  // The replacer list only matters inside objects; without it, a primitive is quicker to write.
  return (
    typeof value === 'object' && value !== null ? JSON.stringify(value, REPLACER) : JSON.stringify(value)
  ) as string | undefined;
}

/** `,"field":<JSON>`, or '' when the row leaves the field out (undefined). */
function fragment(entry: AuditEntry, field: (typeof AUDIT_HASHED_FIELDS)[number]): string {
  const json = fieldJson(entry[field]);
  return json === undefined ? '' : `,"${field}":${json}`;
}

/**
 * An audit entry as audit_body's arguments: the fields before the five begin may override, those
 * five as JSON (null: left out), and the fields after them.
 */
export function auditArgs(entry: AuditEntry): (string | null)[] {
  let pre = '';
  for (let i = 0; i < FIRST_MIDDLE; i++) pre += fragment(entry, AUDIT_HASHED_FIELDS[i] as keyof AuditEntry);
  let post = '';
  for (let i = FIRST_MIDDLE + MIDDLE.length; i < AUDIT_HASHED_FIELDS.length; i++) {
    post += fragment(entry, AUDIT_HASHED_FIELDS[i] as keyof AuditEntry);
  }
  const middle = MIDDLE.map((field) => fieldJson(entry[field]) ?? null);
  return [pre, ...middle, post];
}

/** The whole row after its seq, as audit_body builds it (appendAudit has nothing to override). */
export function auditBody(entry: AuditEntry): string {
  const [pre, ...rest] = auditArgs(entry);
  const post = rest.pop() as string;
  let body = pre as string;
  MIDDLE.forEach((field, i) => {
    const json = rest[i];
    if (json !== null && json !== undefined) body += `,"${field}":${json}`;
  });
  return `${body}${post}}`;
}

/** The row chainAudit returns, from the entry and what audit_row answered. */
export function auditRow(entry: AuditEntry, answer: AuditAnswer): AuditRow {
  return { ...entry, seq: Number(answer.a_seq), prevHash: answer.a_prev, hash: answer.a_hash };
}

export interface AuditAnswer {
  a_seq: string | number;
  a_prev: string;
  a_hash: string;
}

/** The inside of a string's JSON text, to place within a longer JSON string. */
function inner(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

function usd2(micros: number): string {
  return microsToUsd(micros).toFixed(2);
}

// Core's words for an amount that is not whole micro-dollars (stores/state-tx.ts).
const NOT_MICROS = 'is not a finite, non-negative whole number of micro-dollars below 2^53';

function isMicros(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** core's invalidAmount: why begin must deny the plan `amount_invalid`, before reading anything. */
export function invalidAmount(plan: BeginPlan): string | undefined {
  if (!isMicros(plan.costMicros)) return `the reservation ${plan.costMicros} ${NOT_MICROS}`;
  for (const window of plan.windows) {
    if (window.capMicros !== null && !isMicros(window.capMicros)) {
      return `the ${window.label} cap ${window.capMicros} of key ${window.keyId} ${NOT_MICROS}`;
    }
  }
  return undefined;
}

/** core's assertSettlement: a completion's cost that is not whole micro-dollars. */
export function invalidSettlement(input: FinishInput): string | undefined {
  if (input.outcome === 'completed' && input.actualMicros !== undefined && !isMicros(input.actualMicros)) {
    return `the settlement ${input.actualMicros} ${NOT_MICROS}`;
  }
  return undefined;
}

/** A begin call: its arguments, and what is needed to read its answer. */
export interface BeginCall {
  values: unknown[];
  /** The alert thresholds of capped windows, in the order begin_step numbers them. */
  alerts: { window: CapWindow; threshold: number }[];
}

/** begin_step's arguments for a plan whose amounts are valid (see invalidAmount). */
export function beginCall(plan: BeginPlan): BeginCall {
  const counters = new Map<string, number | null>();
  for (const w of plan.windows) if (!counters.has(w.id)) counters.set(w.id, w.expiresAt);
  for (const r of plan.rates) if (!counters.has(r.id)) counters.set(r.id, r.expiresAt);
  const alerts: BeginCall['alerts'] = [];
  const alertWindow: number[] = [];
  const alertThreshold: number[] = [];
  const alertMark: string[] = [];
  plan.windows.forEach((window, i) => {
    if (window.capMicros === null) return;
    for (const threshold of window.alerts) {
      alerts.push({ window, threshold });
      alertWindow.push(i + 1);
      alertThreshold.push(threshold);
      alertMark.push(`alert:${window.id}:${threshold}`);
    }
  });
  const approval = plan.approval;
  // The checkpoint's JSON after "generation" (functions.ts: the layout); the fields before it
  // are added by begin_step.
  const rest = JSON.stringify({
    id: plan.checkpointId,
    key: plan.checkpointKey,
    windows: plan.windows.map((w) => w.id),
    startedAt: plan.now,
    dedupWindowMs: plan.dedupWindowMs,
    vendor: plan.audit.vendor,
    operation: plan.audit.operation,
    state: 'in_progress',
    outcomeUnknown: false,
    reservedMicros: plan.costMicros,
    completedAt: null,
    actualMicros: null,
    result: null,
    error: null,
  });
  const values: unknown[] = [
    plan.now,
    plan.chain,
    plan.chain.map((id) => inner(id === plan.keyId ? 'this key' : `its ancestor ${id}`)),
    plan.checkpointId,
    inner(String(plan.checkpointKey)),
    json(plan.fingerprint),
    plan.dedupWindowMs,
    plan.vendorIdempotent,
    plan.now + plan.leaseMs,
    json(plan.keyId),
    `,${rest.slice(1)}`,
    plan.costMicros,
    usd2(plan.costMicros),
    plan.windows.map((w) => w.id),
    [...counters.keys()],
    [...counters.values()],
    plan.windows.map((w) => w.id),
    plan.windows.map((w) => w.capMicros),
    plan.windows.map((w) => w.expiresAt),
    plan.windows.map((w) =>
      w.capMicros === null
        ? ''
        : inner(`the ${w.label} cap of $${usd2(w.capMicros)} for key ${w.keyId} would be exceeded ($`),
    ),
    inner(` used, this call $${usd2(plan.costMicros)})`),
    alertWindow,
    alertThreshold,
    alertMark,
    plan.rates.map((r) => r.id),
    plan.rates.map((r) => r.limit),
    plan.rates.map((r) => json(`rate limit of ${r.limit} calls per minute reached for key ${r.keyId}`)),
    approval?.id ?? null,
    approval ? inner(String(approval.id)) : null,
    approval
      ? JSON.stringify({
          ...approval,
          state: 'pending',
          decidedAt: null,
          decidedBy: null,
          reason: null,
          usedAt: null,
        })
      : null,
    ...auditArgs(plan.audit),
  ];
  return { values, alerts };
}

/** What begin_step answers. */
export interface BeginAnswer {
  r_kind: 'proceed' | 'resumed' | 'replay' | 'wait' | 'denied' | 'needs_approval';
  r_code: string | null;
  r_message: string | null;
  r_checkpoint: string | null;
  r_generation: string | number | null;
  r_fence: string | number | null;
  r_alerts: number[] | null;
}

export function beginResult(plan: BeginPlan, call: BeginCall, answer: BeginAnswer): BeginResult {
  switch (answer.r_kind) {
    case 'proceed': {
      const alerts: AlertEvent[] = [];
      const fired = answer.r_alerts ?? [];
      for (let i = 0; i < fired.length; i += 2) {
        const { window, threshold } = call.alerts[fired[i] as number] as BeginCall['alerts'][number];
        alerts.push({
          keyId: window.keyId,
          window: window.label,
          windowId: window.id,
          thresholdPercent: threshold,
          capUsd: microsToUsd(window.capMicros as number),
          usedUsd: microsToUsd(fired[i + 1] as number),
        });
      }
      const checkpoint = startedCheckpoint(plan, Number(answer.r_generation), Number(answer.r_fence));
      return { kind: 'proceed', checkpoint, alerts, resumed: false };
    }
    case 'resumed':
      return { kind: 'proceed', checkpoint: parseCheckpoint(answer), alerts: [], resumed: true };
    case 'replay':
    case 'wait':
      return { kind: answer.r_kind, checkpoint: parseCheckpoint(answer) };
    case 'denied':
      return {
        kind: 'denied',
        code: answer.r_code as Extract<BeginResult, { kind: 'denied' }>['code'],
        message: JSON.parse(answer.r_message as string) as string,
      };
    case 'needs_approval':
      return { kind: 'needs_approval', approvalId: (plan.approval as { id: string }).id };
    default:
      throw new Error(`postgres store bug: begin_step answered ${String(answer.r_kind)}`);
  }
}

function parseCheckpoint(answer: BeginAnswer): CheckpointRecord {
  return JSON.parse(answer.r_checkpoint as string) as CheckpointRecord;
}

/** finish_step's arguments (the settlement's amount checked first: invalidSettlement). */
export function finishValues(input: FinishInput): unknown[] {
  return [
    input.checkpointId,
    input.fencingToken,
    input.outcome,
    // Only a completion's cost counts (and was checked): core ignores it for other outcomes.
    input.outcome === 'completed' ? (input.actualMicros ?? null) : null,
    input.now,
    json(input.result ?? 'null'),
    json(input.error ?? null),
    ...auditArgs(input.audit),
  ];
}
