import { contentHash, sha256Hex } from '../canonical-json.ts';
import { operationName } from '../operation.ts';
import { DEFAULT_APPROVAL_TTL_MS, type OperationRule, type ResolvedPolicy } from '../policy.ts';
import { needsApproval, usdToMicros } from '../policy-check.ts';
import type { ExecuteRequest } from '../requests.ts';
import type { AuditEntry, BeginPlan, CapWindow, CheckpointRecord, KeyRecord } from '../store.ts';
import type { AuthenticatedKey } from '../vault-keys.ts';

/**
 * The plan of one call: its fingerprint, checkpoint key and id, the cap, rate and alert windows
 * it counts against. This is the one module that makes the id formats (counters, windows,
 * approvals, the vendor's idempotency key); `spend()` and every store read them from here.
 */

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** The counter of a key's lifetime (or run) spend. */
export function lifetimeCounterId(keyId: string): string {
  return `${keyId}:life`;
}

export function hourWindow(keyId: string, now: number): { id: string; expiresAt: number } {
  const hour = Math.floor(now / HOUR);
  return { id: `${keyId}:hour:${hour}`, expiresAt: (hour + 1) * HOUR };
}

let lastDay = { day: -1, label: '' };
export function dayWindow(keyId: string, now: number): { id: string; expiresAt: number } {
  const day = Math.floor(now / DAY);
  // Formatting a date on every call shows up in profiles; the label only changes once a day.
  if (lastDay.day !== day) lastDay = { day, label: new Date(day * DAY).toISOString().slice(0, 10) };
  return { id: `${keyId}:day:${lastDay.label}`, expiresAt: (day + 1) * DAY };
}

/** The mark that an alert threshold of a window has fired. */
export function alertMarkId(windowId: string, thresholdPercent: number): string {
  return `alert:${windowId}:${thresholdPercent}`;
}

/** The idempotency key the vendor sees: one per checkpoint generation, the same on every re-send. */
export function vendorKey(checkpoint: Pick<CheckpointRecord, 'id' | 'generation'>): string {
  return `sg_${checkpoint.id.slice(0, 40)}_${checkpoint.generation}`;
}

/**
 * What the vendor would see of a call: vendor, method, path, params and the account it acts on.
 * Form-encoded vendors read every scalar as text. Throws a TypeError for a value that is not JSON.
 */
export function callFingerprint(request: ExecuteRequest, formEncoded: boolean): string {
  return contentHash(
    [
      request.vendor,
      request.method.toUpperCase(),
      request.path,
      request.params ?? {},
      request.account ?? null,
    ],
    { formEncoded },
  );
}

/**
 * The checkpoint key (the content hash, or the business key given) and its storage id, both
 * within the scope: the root key's (default) or the run key's.
 */
export function checkpointOf(
  request: Pick<ExecuteRequest, 'idempotencyKey' | 'scope'>,
  key: Pick<KeyRecord, 'id' | 'rootId'>,
  fingerprint: string,
): { checkpointKey: string; checkpointId: string } {
  const scopeId = request.scope === 'run' ? key.id : key.rootId;
  const checkpointKey = request.idempotencyKey ?? contentHash([scopeId, fingerprint]);
  // A content key already names its scope; a business key is namespaced by it here.
  const checkpointId =
    request.idempotencyKey === undefined ? checkpointKey : sha256Hex(`${scopeId}\n${request.idempotencyKey}`);
  return { checkpointKey, checkpointId };
}

/** One approval, one call: another call under the same business key asks again. */
export function approvalId(checkpointId: string, fingerprint: string): string {
  return `apr_${sha256Hex(`${checkpointId}\n${fingerprint}`).slice(0, 24)}`;
}

type WindowSpec = { label: string; capUsd: number | undefined; id: string; expiresAt: number | null };

/** Every window the call counts against: lifetime (or run), hour and day, of the key and each ancestor. */
export function capWindows(auth: AuthenticatedKey, now: number): CapWindow[] {
  const windows: CapWindow[] = [];
  auth.chain.forEach((k: KeyRecord, i) => {
    const policy = auth.policies[i] as ResolvedPolicy;
    const caps = policy.caps;
    const isRun = k.parentId !== null;
    const lifeCap = minDefined(caps.perKey, isRun ? caps.perRun : undefined);
    const specs: WindowSpec[] = [
      {
        label: isRun && caps.perRun !== undefined ? 'run' : 'key lifetime',
        capUsd: lifeCap,
        id: lifetimeCounterId(k.id),
        expiresAt: null,
      },
      { label: 'hourly', capUsd: caps.perHour, ...hourWindow(k.id, now) },
      { label: 'daily', capUsd: caps.perDay, ...dayWindow(k.id, now) },
    ];
    for (const spec of specs) {
      // The key's own lifetime spend is always counted (for reports); other windows only when capped.
      if (spec.capUsd === undefined && !(k.id === auth.key.id && spec.expiresAt === null)) continue;
      windows.push({
        id: spec.id,
        keyId: k.id,
        label: spec.label,
        capMicros: spec.capUsd === undefined ? null : usdToMicros(spec.capUsd),
        alerts: spec.capUsd === undefined ? [] : policy.alerts,
        expiresAt: spec.expiresAt,
      });
    }
  });
  return windows;
}

/** The per-minute rate windows of the key and each ancestor whose policy sets a rate. */
export function rateWindows(auth: AuthenticatedKey, now: number): BeginPlan['rates'] {
  const minute = Math.floor(now / MINUTE);
  return auth.chain.flatMap((k, i) => {
    const limit = auth.policies[i]?.ratePerMinute;
    return limit === undefined
      ? []
      : [{ id: `${k.id}:rate:${minute}`, keyId: k.id, limit, expiresAt: (minute + 2) * MINUTE }];
  });
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

/** What `beginPlan` needs to know about one call. */
export interface PlanInput {
  request: ExecuteRequest;
  auth: AuthenticatedKey;
  /** A vendor call is capped, rated and may need approval; a tool checkpoint is none of these. */
  kind: 'vendor' | 'tool';
  /** The allow rules a vendor call matched (approval rules look at them). */
  rules: readonly OperationRule[];
  fingerprint: string;
  costMicros: number;
  /** Who the call pays or writes to, shown on an approval; read only when one is asked. */
  recipient: () => string | null;
  /** The vendor deduplicates on our idempotency key, so an unknown outcome may be re-sent. */
  vendorIdempotent: boolean;
  leaseMs: number;
  now: number;
  audit: AuditEntry;
}

/** The plan begin applies atomically: checkpoint, reservation, rate and approval. */
export function beginPlan(p: PlanInput): BeginPlan {
  const { request, auth, kind, fingerprint, costMicros, now } = p;
  const { key, policy } = auth;
  const { checkpointKey, checkpointId } = checkpointOf(request, key, fingerprint);
  const tool = kind === 'tool';
  const asksApproval = !tool && !request.approvedBy && needsApproval(policy, p.rules, costMicros);
  return {
    now,
    chain: key.chain,
    keyId: key.id,
    checkpointId,
    checkpointKey,
    fingerprint,
    leaseMs: p.leaseMs,
    dedupWindowMs: policy.dedupWindowMs,
    // A tool's vendor calls are checkpointed on their own, so a lapsed tool may run again.
    vendorIdempotent: tool || p.vendorIdempotent,
    costMicros,
    windows: tool ? [] : capWindows(auth, now),
    rates: tool ? [] : rateWindows(auth, now),
    approval: asksApproval
      ? {
          id: approvalId(checkpointId, fingerprint),
          checkpointId,
          keyId: key.id,
          vendor: request.vendor,
          operation: operationName(request),
          costMicros,
          fingerprint,
          account: request.account ?? null,
          recipient: p.recipient(),
          ttlMs: policy.approval?.ttlMs ?? DEFAULT_APPROVAL_TTL_MS,
          createdAt: now,
        }
      : null,
    // The same entry the later steps fill in; the caller sets its idempotencyKey from the plan.
    audit: p.audit,
  };
}
