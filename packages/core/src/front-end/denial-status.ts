import type { DenyCode } from '../decision.ts';

/** The HTTP status a refusal is answered with, so SDKs raise the error class users expect. */
export function denialStatus(code: DenyCode | 'approval_required'): number {
  switch (code) {
    case 'key_unknown':
    case 'key_expired':
    case 'key_revoked':
      return 401;
    case 'idempotency_mismatch':
    case 'request_invalid':
      return 400;
    case 'in_flight':
    case 'outcome_unknown':
      return 409;
    case 'rate_limited':
      return 429;
    case 'store_unavailable':
      return 503;
    default:
      // Policy, caps, approvals, pricing: the key is not permitted to make this call.
      return 403;
  }
}
