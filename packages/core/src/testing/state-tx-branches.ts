import type { ApprovalRecord, BeginPlan, BeginResult, FinishInput, FinishResult } from '../store.ts';

/**
 * The branches of core's beginTx and finishTx (which the Redis scripts and the Postgres functions port), told apart from the
 * stores' answers alone: a backend's differential test counts them to prove its random runs reach each.
 */
export const BEGIN_BRANCHES = [
  /** A first attempt on a checkpoint. */
  'proceed_new',
  /** A new attempt after a failure, or after a completion left the dedup window. */
  'proceed_next_generation',
  /** Admitted by an approved, unused, unexpired approval. */
  'proceed_approved',
  /** Re-sent under the same vendor idempotency key after the lease ended. */
  'proceed_resumed',
  'replay',
  'wait',
  'denied_amount_invalid',
  'denied_key_revoked',
  'denied_idempotency_mismatch',
  'denied_outcome_unknown',
  'denied_rate_limited',
  'denied_cap_exceeded',
  'denied_approval_denied',
  /** No approval record yet: a pending one is created. */
  'needs_approval_new',
  /** Asked again while the approval is still pending. */
  'needs_approval_pending',
  /** The approval was given but cannot admit this call (used, expired, other call, lower amount). */
  'needs_approval_stale',
] as const;

export const FINISH_BRANCHES = [
  'finish_completed',
  'finish_failed',
  'finish_unknown',
  /** A newer attempt owns the checkpoint, or it is settled already. */
  'finish_fenced',
  'finish_missing',
  /** A completion at a cost that is not whole micro-dollars: a RangeError, nothing changed. */
  'finish_invalid_settlement',
] as const;

export type Branch = (typeof BEGIN_BRANCHES)[number] | (typeof FINISH_BRANCHES)[number];

/** `approvalBefore`: the plan's approval record as read just before this begin (if the plan has one). */
export function beginBranch(
  plan: BeginPlan,
  approvalBefore: ApprovalRecord | undefined,
  result: BeginResult,
): Branch {
  switch (result.kind) {
    case 'proceed':
      if (result.resumed) return 'proceed_resumed';
      // Only an admitting approval lets a plan that carries one proceed.
      if (plan.approval) return 'proceed_approved';
      return result.checkpoint.generation > 1 ? 'proceed_next_generation' : 'proceed_new';
    case 'replay':
    case 'wait':
      return result.kind;
    case 'denied':
      return `denied_${result.code}`;
    case 'needs_approval':
      if (approvalBefore === undefined) return 'needs_approval_new';
      if (approvalBefore.state === 'pending') return 'needs_approval_pending';
      if (approvalBefore.state === 'approved') return 'needs_approval_stale';
      throw new Error(`needs_approval after a ${approvalBefore.state} approval: not a branch of beginTx`);
  }
}

/** `result` is the error's text when finish threw. */
export function finishBranch(input: FinishInput, result: FinishResult | string): Branch {
  if (typeof result === 'string') return 'finish_invalid_settlement';
  return result.ok ? `finish_${input.outcome}` : `finish_${result.reason}`;
}
