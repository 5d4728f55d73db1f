import type { ExecuteDecision } from '../decision.ts';
import type { SpendguardError } from '../errors.ts';
import { ADVICE, storeUnavailableReason } from './model-sentences.ts';

/**
 * What a refused tool call gives the model: readable, and clear that retrying will not help.
 * The same payload in every framework (see model-sentences.ts for how each delivers it).
 */
export interface ToolRefusal {
  refused: true;
  code: string;
  reason: string;
  /** Said plainly so the model does not loop on the same call. */
  advice: string;
  approvalId?: string;
}

/** A denial whose key can no longer act at all. */
type RunStoppingDecision = ExecuteDecision<unknown> & {
  decision: 'denied';
  code: 'key_revoked' | 'key_expired';
};

/** Decisions whose key can no longer act at all: the run must stop (the kill switch). */
export function stopsTheRun(decision: ExecuteDecision<unknown>): decision is RunStoppingDecision {
  return (
    decision.decision === 'denied' && (decision.code === 'key_revoked' || decision.code === 'key_expired')
  );
}

/** The tool result a model reads for a refused, pending or failed call; undefined when the call ran. */
export function toolRefusal(decision: ExecuteDecision<unknown>): ToolRefusal | undefined {
  switch (decision.decision) {
    case 'executed':
    case 'replayed':
      return undefined;
    case 'needs_approval':
      return {
        refused: true,
        code: decision.code,
        reason: decision.message,
        advice: ADVICE.needsApproval,
        approvalId: decision.approvalId,
      };
    case 'failed':
      return {
        refused: true,
        code: decision.code,
        reason: decision.message,
        advice: decision.code === 'outcome_unknown' ? ADVICE.outcomeUnknown : ADVICE.vendorError,
      };
    case 'denied':
      return { refused: true, code: decision.code, reason: decision.message, advice: ADVICE.denied };
  }
}

/**
 * The refusal for a call whose run key could not be derived: the root key cannot act
 * (`key_invalid`, the run stops too) or the store is down. Undefined for any other error.
 */
export function unboundRunRefusal(error: SpendguardError): ToolRefusal | undefined {
  switch (error.code) {
    case 'key_invalid':
      return { refused: true, code: error.code, reason: error.message, advice: ADVICE.runKeyInvalid };
    case 'store_unavailable':
      return {
        refused: true,
        code: error.code,
        reason: storeUnavailableReason(error.message),
        advice: ADVICE.storeUnavailable,
      };
    default:
      return undefined;
  }
}

/** Whether a tool output is a spendguard refusal (for step handlers and UIs). */
export function isToolRefusal(output: unknown): output is ToolRefusal {
  if (output === null || typeof output !== 'object') return false;
  const o = output as Partial<ToolRefusal>;
  return o.refused === true && typeof o.code === 'string' && typeof o.reason === 'string';
}
