/**
 * Why a call was refused. Stable: adapters and users switch on these.
 * `request_invalid`: the request could not be decoded safely (a body past a bound, a reserved
 * param name, a value that is not JSON data). `amount_invalid`: an amount that is not a finite,
 * non-negative number (negative, garbled, NaN, too large). `account_not_allowed`: the call acts
 * on a vendor account the policy's `accounts` list does not name.
 */
export const DENY_CODES = [
  'key_unknown',
  'key_expired',
  'key_revoked',
  'request_invalid',
  'operation_not_allowed',
  'account_not_allowed',
  'param_not_allowed',
  'amount_invalid',
  'currency_not_priced',
  'cost_unknown',
  'cap_exceeded',
  'rate_limited',
  'idempotency_mismatch',
  'in_flight',
  'outcome_unknown',
  'approval_denied',
  'store_unavailable',
] as const;

export type DenyCode = (typeof DENY_CODES)[number];

/** Every code a decision can carry, denials included. */
export const DECISION_CODES = [
  'executed',
  'executed_not_recorded',
  'replayed',
  'replayed_after_wait',
  'approval_required',
  'vendor_error',
  ...DENY_CODES,
] as const;

/** What every decision carries about the call. */
export interface DecisionInfo {
  /** One sentence for people (and models): what happened and why. */
  message: string;
  /** The checkpoint key (content hash or the explicit key). Absent when the call was refused before. */
  checkpointKey?: string;
  keyId?: string;
  /** Estimated cost in USD. */
  estimatedCostUsd?: number;
  /** Sequence number of the audit row written for this decision. */
  auditSeq?: number;
}

export type ExecuteDecision<T> =
  | (DecisionInfo & {
      decision: 'executed';
      /** `executed_not_recorded`: the vendor answered but the store could not record it. */
      code: 'executed' | 'executed_not_recorded';
      result: T;
      /** The idempotency key sent to the vendor. */
      idempotencyKey: string;
      actualCostUsd: number;
      /** The vendor gave no price, so the estimate stands for the actual cost (Twilio). */
      actualCostIsEstimate: boolean;
    })
  | (DecisionInfo & {
      decision: 'replayed';
      /** `replayed_after_wait`: a concurrent duplicate waited for the first call and got its result. */
      code: 'replayed' | 'replayed_after_wait';
      result: T;
      idempotencyKey: string;
      actualCostUsd: number;
    })
  | (DecisionInfo & { decision: 'needs_approval'; code: 'approval_required'; approvalId: string })
  | (DecisionInfo & { decision: 'denied'; code: DenyCode })
  | (DecisionInfo & {
      decision: 'failed';
      /** `vendor_error`: surely failed, reservation released. `outcome_unknown`: it may have acted. */
      code: 'vendor_error' | 'outcome_unknown';
      idempotencyKey: string;
      error: { message: string; status?: number };
    });

export type DecisionKind = ExecuteDecision<unknown>['decision'];
