import type { Credentials } from '../credentials.ts';
import type { DenyCode, ExecuteDecision } from '../decision.ts';
import type { Money } from '../operation.ts';
import type { OperationRule } from '../policy.ts';
import { microsToUsd, needsApproval } from '../policy-check.ts';
import type { ExecuteOptions, ExecuteRequest, Settlement, VendorCallContext } from '../requests.ts';
import type { AlertEvent, AppendedRow, AuditEntry, CheckpointRecord, FinishInput, Store } from '../store.ts';
import { decisionAttributes, inSpan, SPANS } from '../telemetry.ts';
import type { AuthenticatedKey, VaultKeys } from '../vault-keys.ts';
import type { VendorOutcome } from '../vendor-errors.ts';
import type { VendorProfile } from '../vendors/vendor-profile.ts';
import { elapsed } from './audit-entries.ts';
import { beginPlan, callFingerprint, vendorKey } from './call-plan.ts';
import type { CheckpointWaiters } from './checkpoint-waiters.ts';
import { operationOf, settledMicros } from './pricing.ts';

/**
 * The run loop: begin (waiting for an in-flight duplicate), the call, its settlement and finish,
 * each ending in a decision value. Two kinds of call run through it: a vendor call (capped,
 * rated, approved and settled by its profile) and a tool checkpoint (none of these; the vendor
 * calls inside the tool are governed one by one).
 */

/** What the run loop needs of the guard. */
export interface PipelineContext {
  readonly store: Store;
  readonly now: () => number;
  readonly leaseMs: number;
  readonly waitTimeoutMs: number;
  readonly credentials: Credentials;
  readonly classify: (error: unknown) => VendorOutcome;
  readonly waiters: CheckpointWaiters;
  readonly onAlert: ((alert: AlertEvent) => void) | undefined;
  /** Settlements the store refused, for the guard to record once it is back. */
  readonly unrecorded: FinishInput[];
}

/** Settlements kept for the store's return; past this many, pending() still lists the calls. */
const MAX_UNRECORDED = 10_000;

export type CallKind =
  | {
      kind: 'vendor';
      /** The allow rules the call matched, for approval rules. */
      rules: readonly OperationRule[];
      profile: VendorProfile | undefined;
      /** The estimate, in the call's currency. */
      cost: Money | undefined;
    }
  | {
      kind: 'tool';
      /** The last guarded call refused inside the tool, which explains why it threw. */
      innerRefusal: () => ExecuteDecision<unknown> | undefined;
    };

export interface CallInput<T> {
  call: CallKind;
  request: ExecuteRequest;
  auth: AuthenticatedKey;
  costMicros: number;
  audit: AuditEntry;
  /** A `performance.now()` reading, for the audit row's latency. */
  startedAt: number;
  vendorCall: (context: VendorCallContext) => Promise<T>;
  options: ExecuteOptions<T>;
}

type Info = { checkpointKey: string; keyId: string; estimatedCostUsd: number };

/** The one pipeline, once the key is known: plan, begin (waiting for duplicates), the call, finish. */
export async function runCall<T>(ctx: PipelineContext, input: CallInput<T>): Promise<ExecuteDecision<T>> {
  const { call, request, auth, costMicros, audit } = input;
  const rules = call.kind === 'vendor' ? call.rules : [];
  const profile = call.kind === 'vendor' ? call.profile : undefined;
  if (request.approvedBy && call.kind === 'vendor' && needsApproval(auth.policy, rules, costMicros)) {
    audit.message = `approved by ${request.approvedBy}`;
  }
  let fingerprint: string;
  try {
    fingerprint = callFingerprint(request, profile?.formEncoded === true);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    return denyCall(ctx, 'request_invalid', error.message.replace(/^canonicalJson: /, ''), audit);
  }
  const plan = beginPlan({
    request,
    auth,
    kind: call.kind,
    rules,
    fingerprint,
    costMicros,
    recipient: () =>
      profile?.recipientOf?.({ method: request.method, path: request.path, params: request.params ?? {} }) ??
      null,
    vendorIdempotent: !!profile?.idempotencyHeader,
    leaseMs: ctx.leaseMs,
    now: ctx.now(),
    audit,
  });
  audit.idempotencyKey = plan.checkpointKey;
  const info: Info = {
    checkpointKey: plan.checkpointKey,
    keyId: auth.key.id,
    estimatedCostUsd: microsToUsd(costMicros),
  };

  const waitUntil = performance.now() + ctx.waitTimeoutMs;
  let waited = false;
  for (;;) {
    let begun: Awaited<ReturnType<Store['begin']>>;
    try {
      begun = await inSpan(
        SPANS.begin,
        { 'spendguard.key_id': auth.key.id, 'spendguard.cost.estimated_usd': info.estimatedCostUsd },
        () => ctx.store.begin({ ...plan, now: ctx.now() }),
        (b) => ({ 'spendguard.begin': b.kind }),
      );
    } catch (error) {
      return storeUnavailable(ctx, error);
    }
    switch (begun.kind) {
      case 'denied':
        return { decision: 'denied', code: begun.code, message: begun.message, ...info };
      case 'needs_approval':
        return {
          decision: 'needs_approval',
          code: 'approval_required',
          approvalId: begun.approvalId,
          message: `a human must approve this call first (approval ${begun.approvalId})`,
          ...info,
        };
      case 'replay':
        return replayed(begun.checkpoint, waited, info);
      case 'proceed':
        return callVendor(ctx, input, begun, info);
      case 'wait': {
        waited = true;
        const settled = await ctx.waiters.waitFor(ctx.store, begun.checkpoint, waitUntil, ctx.now);
        if (settled === 'timeout') {
          const message =
            'an identical call is still in flight; it did not finish in time to share its result';
          return denyCall(ctx, 'in_flight', message, audit, info);
        }
        if (settled.state === 'failed' && settled.generation === begun.checkpoint.generation) {
          // The call we waited on surely failed: report its failure rather than trying again.
          const error = settled.error ?? { message: 'the vendor call failed' };
          const row = await appendAudit(ctx, {
            ...audit,
            decision: 'failed',
            code: 'vendor_error',
            message: error.message,
          });
          return {
            decision: 'failed',
            code: 'vendor_error',
            message: `the identical call this one waited for failed: ${error.message}`,
            idempotencyKey: vendorKey(settled),
            error,
            ...info,
            ...(row && { auditSeq: row.seq }),
          };
        }
        if (settled.state === 'in_progress' && settled.outcomeUnknown && settled.leaseUntil > ctx.now()) {
          const retryAt = new Date(settled.leaseUntil).toISOString();
          const message = `an identical call may have reached the vendor (outcome unknown); it can be retried after ${retryAt}`;
          return denyCall(ctx, 'outcome_unknown', message, audit, info);
        }
        continue; // completed (replay), or the lease ended (take over): begin again decides.
      }
    }
  }
}

/** Check the token and fill the audit row's key fields; a refusal comes back as a decision. */
export async function authenticateCall<T>(
  ctx: PipelineContext,
  keys: VaultKeys,
  token: string,
  audit: AuditEntry,
): Promise<AuthenticatedKey | ExecuteDecision<T>> {
  let auth: Awaited<ReturnType<VaultKeys['authenticate']>>;
  try {
    auth = await keys.authenticate(token);
  } catch (error) {
    return storeUnavailable(ctx, error);
  }
  if ('code' in auth) {
    const key = auth.key;
    return denyCall(ctx, auth.code, auth.message, {
      ...audit,
      keyId: key?.id ?? null,
      rootKeyId: key?.rootId ?? null,
    });
  }
  audit.keyId = auth.key.id;
  audit.rootKeyId = auth.key.rootId;
  audit.runId = audit.runId ?? auth.key.runId;
  return auth;
}

/** The vendor call and its settlement, once begin has leased the checkpoint to this attempt. */
async function callVendor<T>(
  ctx: PipelineContext,
  input: CallInput<T>,
  { checkpoint, alerts, resumed }: { checkpoint: CheckpointRecord; alerts: AlertEvent[]; resumed: boolean },
  info: Info,
): Promise<ExecuteDecision<T>> {
  const { call, request, auth, audit, startedAt, vendorCall, options } = input;
  for (const alert of alerts) fireAlert(ctx, alert);
  const idempotencyKey = vendorKey(checkpoint);
  const credentials = ctx.credentials;
  const context: VendorCallContext = {
    idempotencyKey,
    get credential() {
      return credentials.resolve(request.vendor);
    },
    resumed,
  };
  let result: T;
  try {
    result = await inSpan(SPANS.vendorCall, { 'spendguard.resumed': resumed }, () => vendorCall(context));
  } catch (error) {
    const inner = call.kind === 'tool' ? call.innerRefusal() : undefined;
    if (inner) return toolRefused<T>(ctx, checkpoint, inner, input, info);
    // A tool that throws is re-runnable: the vendor calls inside it are checkpointed themselves.
    const outcome = call.kind === 'tool' ? 'failed' : ctx.classify(error);
    const status = statusOf(error);
    const message = ctx.credentials.redact(error instanceof Error ? error.message : String(error));
    const code = outcome === 'failed' ? 'vendor_error' : 'outcome_unknown';
    const finished = await finishCall(ctx, {
      now: ctx.now(),
      checkpointId: checkpoint.id,
      fencingToken: checkpoint.fencingToken,
      outcome,
      error: { message, ...(status !== undefined && { status }) },
      audit: {
        ...audit,
        decision: 'failed',
        code,
        message,
        upstreamStatus: status ?? null,
        latencyMs: elapsed(startedAt),
      },
    });
    return {
      decision: 'failed',
      code,
      message:
        outcome === 'failed'
          ? `the vendor call failed: ${message}`
          : `the vendor call may have acted (${message}); a retry re-sends with the same idempotency key`,
      idempotencyKey,
      error: { message, ...(status !== undefined && { status }) },
      ...info,
      ...(finished && { auditSeq: finished.seq }),
    };
  }

  const cost = call.kind === 'vendor' ? call.cost : undefined;
  const profile = call.kind === 'vendor' ? call.profile : undefined;
  const settlement: Settlement =
    options.settle?.(result, cost) ?? profile?.settle(operationOf(request), result, cost) ?? {};
  // A garbled actual cost, or one in a currency without a rate, keeps the estimate.
  const actualMicros = settledMicros(auth.policy, settlement.cost) ?? checkpoint.reservedMicros;
  const stored = ctx.credentials.redact(JSON.stringify(result) ?? 'null');
  const finished = await finishCall(ctx, {
    now: ctx.now(),
    checkpointId: checkpoint.id,
    fencingToken: checkpoint.fencingToken,
    outcome: 'completed',
    result: stored,
    actualMicros,
    audit: {
      ...audit,
      decision: 'executed',
      code: 'executed',
      actualCostUsd: microsToUsd(actualMicros),
      actualCostIsEstimate: settlement.costIsEstimate ?? false,
      upstreamStatus: settlement.upstreamStatus ?? null,
      upstreamObjectId: settlement.upstreamObjectId ?? null,
      latencyMs: elapsed(startedAt),
    },
  });
  return {
    decision: 'executed',
    code: finished ? 'executed' : 'executed_not_recorded',
    message: finished
      ? 'the vendor call ran once'
      : 'the vendor call ran, but the store could not record it; it is recorded once the store is back',
    result: JSON.parse(stored) as T,
    idempotencyKey,
    actualCostUsd: microsToUsd(actualMicros),
    actualCostIsEstimate: settlement.costIsEstimate ?? false,
    ...info,
    ...(finished && { auditSeq: finished.seq }),
  };
}

/**
 * A tool threw because a guarded call inside it was refused: the tool's checkpoint fails (it may
 * run again) and its decision is that refusal, so the model reads the real reason and a revoked
 * key still stops the run.
 */
async function toolRefused<T>(
  ctx: PipelineContext,
  checkpoint: CheckpointRecord,
  inner: ExecuteDecision<unknown>,
  input: CallInput<T>,
  info: Info,
): Promise<ExecuteDecision<T>> {
  const decision =
    inner.decision === 'needs_approval'
      ? 'needs_approval'
      : inner.decision === 'failed'
        ? 'failed'
        : 'denied';
  const finished = await finishCall(ctx, {
    now: ctx.now(),
    checkpointId: checkpoint.id,
    fencingToken: checkpoint.fencingToken,
    outcome: 'failed',
    error: { message: inner.message },
    audit: {
      ...input.audit,
      decision,
      code: inner.code,
      message: inner.message,
      latencyMs: elapsed(input.startedAt),
    },
  });
  return { ...inner, ...info, ...(finished && { auditSeq: finished.seq }) } as ExecuteDecision<T>;
}

/**
 * Settle and wake local waiters. A store failure here must not hide the vendor's answer: the
 * settlement is kept for the guard to record once the store is back.
 */
async function finishCall(ctx: PipelineContext, input: FinishInput): Promise<AppendedRow | undefined> {
  try {
    return (
      await inSpan(
        SPANS.finish,
        { 'spendguard.outcome': input.outcome },
        () => ctx.store.finish(input),
        (f) => (f.audit ? decisionAttributes(f.audit) : {}),
      )
    ).audit;
  } catch {
    if (ctx.unrecorded.length < MAX_UNRECORDED) ctx.unrecorded.push(input);
    return undefined;
  } finally {
    ctx.waiters.wake(input.checkpointId);
  }
}

function replayed<T>(checkpoint: CheckpointRecord, waited: boolean, info: Info): ExecuteDecision<T> {
  return {
    decision: 'replayed',
    code: waited ? 'replayed_after_wait' : 'replayed',
    message: 'an identical call already ran; its stored result is returned and the vendor was not called',
    result: JSON.parse(checkpoint.result ?? 'null') as T,
    idempotencyKey: vendorKey(checkpoint),
    actualCostUsd: microsToUsd(checkpoint.actualMicros ?? 0),
    ...info,
    estimatedCostUsd: 0,
  };
}

/** A refusal decided before begin (or while waiting), with its audit row. */
export async function denyCall<T>(
  ctx: PipelineContext,
  code: DenyCode,
  message: string,
  audit: AuditEntry,
  info: Partial<Info> = {},
): Promise<ExecuteDecision<T>> {
  const row = await appendAudit(ctx, { ...audit, decision: 'denied', code, message });
  return { decision: 'denied', code, message, ...info, ...(row && { auditSeq: row.seq }) };
}

/** The store can't be reached: fail closed, and say so without any secret. */
export function storeUnavailable<T>(ctx: PipelineContext, error: unknown): ExecuteDecision<T> {
  const reason = error instanceof Error ? error.message : String(error);
  return {
    decision: 'denied',
    code: 'store_unavailable',
    message: `the spendguard store (${ctx.store.kind}) is unavailable, so the call was not made: ${ctx.credentials.redact(reason)}`,
  };
}

async function appendAudit(ctx: PipelineContext, entry: AuditEntry): Promise<AppendedRow | undefined> {
  try {
    return await ctx.store.appendAudit(entry);
  } catch {
    return undefined;
  }
}

function fireAlert(ctx: PipelineContext, alert: AlertEvent): void {
  if (!ctx.onAlert) return;
  try {
    const pending = ctx.onAlert(alert) as unknown;
    if (pending instanceof Promise) pending.catch(() => {});
  } catch {
    // An alert hook must never block or break the call it reports on.
  }
}

function statusOf(error: unknown): number | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const e = error as { status?: unknown; statusCode?: unknown };
  if (typeof e.status === 'number') return e.status;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}
